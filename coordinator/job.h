// The training job's state machine: worker registry and failure detection, membership
// generations and their rendezvous, the epoch ledger (sample accounting), checkpoints, events,
// and the journal that lets a restarted coordinator resume. The gRPC services (service.h) only
// translate between protos and this class. See coordinator/README.md for the protocol.
//
// Generations. The coordinator announces generation g+1 whenever the wanted membership differs
// from the formed generation g's members. Wanted ("desired") members are the live, non-draining
// workers that are members of g or have called Rendezvous since (newcomers, former standbys),
// ordered members of g first (by rank) then others by join order, cut at max_workers (the rest
// are standbys). Generation g+1 forms when
//   (a) every desired worker has called Rendezvous for it and no worker joined during the last
//       join_settle (so a job whose workers start together forms one generation, not N), or
//   (b) rendezvous_settle passed since the announcement: it forms with the desired workers that
//       did call (a worker that is alive but never calls must not stall the job; it becomes a
//       candidate again when it calls Rendezvous);
// and only with at least min_workers members (else the job is "waiting"). Ranks follow the
// desired order, so survivors keep their relative order and rank 0 stays rank 0 when it can.
//
// Thread-safe: every public method takes the one mutex; Rendezvous and WaitForEvents block (on
// the real clock, bounded by their timeouts) without holding it. Liveness and settle periods are
// read from Options::clock, and only Tick() acts on them, so a test with a FakeClock decides when
// a worker dies. Borrows the clock and the store, which must outlive the Job.
#ifndef MURMUR_COORDINATOR_JOB_H_
#define MURMUR_COORDINATOR_JOB_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/best_metric.h"
#include "coordinator/checkpoint_registry.h"
#include "coordinator/clock.h"
#include "coordinator/journal.pb.h"
#include "coordinator/training_curves.h"
#include "coordinator/kv_store.h"
#include "coordinator/ledger.h"
#include "proto/coordinator.pb.h"

namespace murmur::coordinator {

class Job {
 public:
  struct Options {
    // The job, defaults applied and validated (job_spec.h). Required.
    v1::JobSpec spec;
    // Training and validation split sizes (data ingest). train_samples must be > 0.
    uint64_t train_samples = 0;
    uint64_t validation_samples = 0;
    // Directory of the journal (journal.json). When it holds a journal, the job resumes from it
    // (the spec and sample counts must match). Empty: no journal (tests of the state machine).
    std::string journal_dir;
    // Default: the real clock.
    const Clock* clock = nullptr;
    // Keys of generations that are over are dropped from it. Default: none.
    KeyValueStore* store = nullptr;
    // Forming waits this long after the last Join. Default 1 s.
    absl::Duration join_settle = absl::Seconds(1);
    // Form without desired workers that have not called Rendezvous this long after the
    // announcement. Default: 2 * collective_timeout_ms + heartbeat_timeout_ms of the spec (a
    // survivor stuck in a collective notices within collective_timeout_ms).
    std::optional<absl::Duration> rendezvous_settle;
    // A Rendezvous call waits at most this long (real time) before UNAVAILABLE. Default 15 s.
    absl::Duration rendezvous_poll = absl::Seconds(15);
    // After a restart from the journal, workers get heartbeat_timeout + this long before they
    // can be declared dead: they reconnect within their bounded backoff (1 s, worker/
    // coordinator_client.h) and then heartbeat every heartbeat_timeout / 5. Default 5 s.
    absl::Duration restart_grace = absl::Seconds(5);
    // Receives each recorded step and evaluation (borrowed; must outlive the Job). Default none.
    TrainingCurveSink* curves = nullptr;
  };

  static absl::StatusOr<std::unique_ptr<Job>> Create(Options options);
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  // Worker-facing calls. Errors: NOT_FOUND for an unknown worker id, FAILED_PRECONDITION for a
  // worker that is dead/left/drained or a stale generation, INVALID_ARGUMENT for malformed
  // requests, UNAVAILABLE when a Rendezvous poll ends before its generation formed (call again).
  absl::StatusOr<v1::JoinResponse> Join(const v1::JoinRequest& request);
  // Blocks until the caller is a member of a generation newer than request.last_generation,
  // the job finishes, or the poll ends (at most rendezvous_poll, and at most `max_wait`).
  // `cancelled` (may be empty) is polled so an abandoned call returns early.
  absl::StatusOr<v1::RendezvousResponse> Rendezvous(
      const v1::RendezvousRequest& request, absl::Duration max_wait = absl::InfiniteDuration(),
      const std::function<bool()>& cancelled = {});
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request);
  absl::Status ReportWindow(const v1::WindowReport& report);
  // The reports in order, journaled once; stops at the first refused one (see WindowReportsAck).
  v1::WindowReportsAck ReportWindows(const v1::WindowReports& reports);
  absl::Status ReportCheckpoint(const v1::CheckpointReport& report);
  absl::Status Leave(const v1::LeaveRequest& request);

  // The spec the job was created with (immutable).
  const v1::JobSpec& spec() const { return options_.spec; }

  // Operator-facing calls.
  v1::JobStatus Status() const;
  // 0 leaves a limit unchanged. INVALID_ARGUMENT unless 1 <= min <= max afterwards.
  absl::StatusOr<v1::JobStatus> SetWorkerLimits(int32_t min_workers, int32_t max_workers);
  // NOT_FOUND for an unknown worker; FAILED_PRECONDITION for a dead or departed one.
  absl::Status DrainWorker(const std::string& worker_id);
  // Events with index > `after` (the first event has index 1; event i is events[i - 1]). When
  // there are none yet, waits up to `wait` (real time) for one. `next_after` receives the index
  // of the last event returned (or `after`).
  std::vector<v1::JobEvent> WaitForEvents(int64_t after, absl::Duration wait,
                                          int64_t* next_after,
                                          const std::function<bool()>& cancelled = {});
  // The best checkpoint (highest validation accuracy; the last one when none has metrics).
  // NOT_FOUND when there is none.
  absl::StatusOr<v1::CheckpointInfo> BestCheckpoint() const;

  // Records that `checkpoint` was published to `target` as `version` (event "published"; the
  // checkpoint's `publications` when it is a reported checkpoint).
  void RecordPublished(const std::string& checkpoint, const std::string& target, int64_t version);

  // Retention (JobSpec.keep_checkpoints). A pinned checkpoint (one being published) is kept
  // until unpinned; pins nest.
  void PinCheckpoint(const std::string& path);
  void UnpinCheckpoint(const std::string& path);
  // Directories retention dropped that are not yet confirmed deleted (checkpoint_janitor.h):
  // never resumed or published again, journaled so that a restart finishes their deletion.
  std::vector<std::string> PendingDeletions() const;
  void DeletionDone(const std::string& path);

  // Failure detection and settle periods: declares workers whose heartbeats stopped dead and
  // forms a generation whose settle period passed. The server calls it periodically; tests call
  // it after moving their FakeClock.
  void Tick();
  // Ends every wait (Rendezvous, WaitForEvents) with UNAVAILABLE; later waits return at once.
  void Shutdown();

  // Workers blocked in Rendezvous now (tests sequence their simulated workers with it).
  std::vector<std::string> WaitingWorkers() const;
  // The newest generation announced (what heartbeats answer).
  int64_t announced_generation() const;
  bool shutting_down() const;

  // The state the journal holds (it is written after every change). Tests compare it.
  journal::State JournalState() const;

 private:
  struct Worker {
    std::string id;
    std::string name;
    std::string host;
    int32_t gpus = 0;
    v1::WorkerState state = v1::WORKER_STANDBY;
    int64_t join_sequence = 0;
    absl::Time last_seen;
    // Rendezvous calls in progress: a worker blocked in one is alive.
    int in_rendezvous = 0;
    // Called Rendezvous wanting a generation newer than the formed one; its progress then.
    bool ready = false;
    int64_t ready_step = -1;
    int64_t ready_state_generation = 0;
    // From heartbeats.
    int64_t global_step = 0;
    int32_t epoch = 0;
    double loss = 0;
    double samples_per_second = 0;
  };

  explicit Job(Options options);
  absl::Status RestoreFromJournal(const journal::State& state);

  // Looks up a worker for a call: NOT_FOUND, or FAILED_PRECONDITION when it is dead or left.
  absl::StatusOr<Worker*> FindLiveWorker(const std::string& worker_id, const char* call)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IsMember(const std::string& worker_id) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  int32_t RankOf(const std::string& worker_id) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  bool Pending() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return announced_ > formed_.generation();
  }
  std::vector<Worker*> DesiredMembers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Announces a new generation when the desired membership differs from the formed one (or
  // `force`, when a member asks to regroup). Returns whether it announced.
  bool MaybeAnnounce(const std::string& reason, bool force = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forms the pending generation when its conditions hold.
  void TryForm() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Form(const std::vector<Worker*>& members) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every window is recorded (all epochs, or max_steps): only the final checkpoint is missing.
  bool TrainingDone() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void MaybeFinish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finishes the job when early_stopping_patience evaluations brought no improvement.
  void MaybeStopEarly() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The job's rate: what the formed generation's active members last reported, added up.
  double MembersSamplesPerSecond() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Drops the checkpoints keep_checkpoints no longer keeps into pending_deletions_.
  void ApplyRetention() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddEvent(const std::string& kind, const std::string& detail)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Journals the state and wakes every waiter. Call after each change.
  void JournalAndNotify() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  journal::State JournalStateLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  v1::RendezvousResponse Assignment(const std::string& worker_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status CheckReportGeneration(int64_t generation, bool allow_older) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Records one window report; whether the state changed (a repeat changes nothing).
  absl::StatusOr<bool> RecordWindow(const v1::WindowReport& report)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const Clock* const clock_;
  const absl::Duration heartbeat_timeout_;
  const absl::Duration rendezvous_settle_;
  // The spec's best_metric (accuracy when the spec leaves it empty: tests' hand-made specs).
  const BestMetric best_metric_;

  mutable absl::Mutex mu_;
  absl::CondVar changed_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  int32_t min_workers_ ABSL_GUARDED_BY(mu_);
  int32_t max_workers_ ABSL_GUARDED_BY(mu_);
  int64_t next_join_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::string, Worker> workers_ ABSL_GUARDED_BY(mu_);
  absl::Time last_join_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t announced_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time announced_at_ ABSL_GUARDED_BY(mu_);
  journal::Generation formed_ ABSL_GUARDED_BY(mu_);
  // Every formed generation (the model's lineage); formed_ is the last.
  std::vector<journal::Generation> history_ ABSL_GUARDED_BY(mu_);
  // A member of formed_ was declared dead: its collectives cannot complete, and heartbeats of
  // formed_'s members say abort_collectives.
  bool formed_lost_member_ ABSL_GUARDED_BY(mu_) = false;
  EpochLedger ledger_ ABSL_GUARDED_BY(mu_);
  CheckpointRegistry checkpoints_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::EvaluationMetrics> evaluations_ ABSL_GUARDED_BY(mu_);
  std::multiset<std::string> pinned_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> pending_deletions_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::JobEvent> events_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_early_ ABSL_GUARDED_BY(mu_) = false;
  // Why the job failed (finished_ is set too); empty unless a worker gave up (Leave).
  std::string failure_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  double loss_ ABSL_GUARDED_BY(mu_) = 0;
  std::string journal_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_JOB_H_
