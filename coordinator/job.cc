#include "coordinator/job.h"

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file.h"
#include "base/logging.h"
#include "coordinator/journal.h"
#include "proto/objectives.h"

namespace murmur::coordinator {
namespace {

// Waits wake this often to look at their `cancelled` callbacks.
constexpr absl::Duration kCancelPoll = absl::Milliseconds(100);


std::string StorePrefix(int64_t generation) { return absl::StrCat("gen-", generation, "/"); }

}  // namespace

Job::Job(Options options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : RealClock::Get()),
      heartbeat_timeout_(absl::Milliseconds(options_.spec.heartbeat_timeout_ms())),
      rendezvous_settle_(options_.rendezvous_settle.value_or(
          absl::Milliseconds(2 * int64_t{options_.spec.collective_timeout_ms()} +
                             options_.spec.heartbeat_timeout_ms()))),
      best_metric_(ParseBestMetric(options_.spec.best_metric(), options_.spec.objective())
                       .value_or(BestMetric::kAccuracy)),
      min_workers_(options_.spec.min_workers()),
      max_workers_(options_.spec.max_workers()),
      ledger_(options_.spec.epochs(), options_.train_samples),
      checkpoints_(best_metric_) {
  announced_at_ = clock_->Now();
}

Job::~Job() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Job>> Job::Create(Options options) {
  if (options.train_samples == 0) {
    return absl::InvalidArgumentError("the training split is empty");
  }
  std::unique_ptr<Job> job(new Job(std::move(options)));
  const std::string& dir = job->options_.journal_dir;
  if (!dir.empty()) {
    if (auto status = MakeDirectories(dir); !status.ok()) return status;
    if (JournalExists(dir)) {
      auto state = ReadJournal(dir);
      if (!state.ok()) return state.status();
      if (auto status = job->RestoreFromJournal(*state); !status.ok()) return status;
    }
  }
  absl::MutexLock lock(&job->mu_);
  job->JournalAndNotify();  // a fresh job writes its first journal; a restored one records the
                            // restart
  return job;
}

absl::Status Job::RestoreFromJournal(const journal::State& state) {
  const std::string path = JournalPath(options_.journal_dir);
  if (!google::protobuf::util::MessageDifferencer::Equals(state.spec(), options_.spec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " belongs to a job with a different spec; use another --journal-dir "
                           "or the job's original spec"));
  }
  if (state.train_samples() != static_cast<int64_t>(options_.train_samples)) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": the journal's job has ", state.train_samples(), " training samples, the corpus "
        "now gives ", options_.train_samples, " (the corpus changed)"));
  }
  auto ledger = EpochLedger::FromProto(options_.spec.epochs(), options_.train_samples,
                                       state.ledger());
  if (!ledger.ok()) return ledger.status();

  absl::MutexLock lock(&mu_);
  ledger_ = *std::move(ledger);
  min_workers_ = state.min_workers();
  max_workers_ = state.max_workers();
  next_join_sequence_ = state.next_join_sequence();
  const absl::Time now = clock_->Now();
  for (const journal::Worker& record : state.workers()) {
    Worker& worker = workers_[record.worker_id()];
    worker.id = record.worker_id();
    worker.name = record.name();
    worker.host = record.host();
    worker.gpus = record.gpus();
    worker.state = record.state() == v1::WORKER_STATE_UNSPECIFIED ? v1::WORKER_STANDBY
                                                                   : record.state();
    worker.join_sequence = record.join_sequence();
    // A fresh grace period, longer than the heartbeat timeout by restart_grace: running workers
    // kept training while we were away and reach us again within their reconnect backoff.
    worker.last_seen = now + options_.restart_grace;
    worker.global_step = record.global_step();
    worker.epoch = record.epoch();
    worker.loss = record.loss();
    worker.samples_per_second = record.samples_per_second();
  }
  announced_ = state.announced_generation();
  announced_at_ = now;
  formed_ = state.formed();
  history_.assign(state.history().begin(), state.history().end());
  checkpoints_.Restore({state.checkpoints().begin(), state.checkpoints().end()});
  evaluations_.assign(state.evaluations().begin(), state.evaluations().end());
  pending_deletions_.assign(state.pending_deletions().begin(), state.pending_deletions().end());
  events_.assign(state.events().begin(), state.events().end());
  finished_ = state.finished();
  stopped_early_ = state.stopped_early();
  failure_ = state.failure();
  loss_ = state.loss();
  AddEvent("restarted", absl::StrCat("coordinator restarted from its journal at generation ",
                                     announced_, ", step ", ledger_.max_step()));
  return absl::OkStatus();
}

// ---------------------------------------------------------------- helpers

absl::StatusOr<Job::Worker*> Job::FindLiveWorker(const std::string& worker_id, const char* call) {
  if (worker_id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(call, ": worker_id is required"));
  }
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) {
    return absl::NotFoundError(absl::StrCat(call, ": unknown worker id '", worker_id,
                                            "' (call Join first)"));
  }
  Worker& worker = it->second;
  // ABORTED, not FAILED_PRECONDITION: the worker's membership is over, and the retry that
  // succeeds is at a higher level (Join again, as a new worker, with its state discarded).
  if (worker.state == v1::WORKER_DEAD) {
    return absl::AbortedError(absl::StrCat(
        call, ": worker ", worker_id, " was declared dead after missing heartbeats; Join again"));
  }
  if (worker.state == v1::WORKER_LEFT) {
    return absl::AbortedError(
        absl::StrCat(call, ": worker ", worker_id, " has left the job; Join again"));
  }
  return &worker;
}

bool Job::IsMember(const std::string& worker_id) const { return RankOf(worker_id) >= 0; }

int32_t Job::RankOf(const std::string& worker_id) const {
  for (int i = 0; i < formed_.members_size(); ++i) {
    if (formed_.members(i) == worker_id) return i;
  }
  return -1;
}

std::vector<Job::Worker*> Job::DesiredMembers() {
  std::vector<Worker*> members, others;
  for (const std::string& id : formed_.members()) {
    Worker& worker = workers_.at(id);
    if (worker.state == v1::WORKER_ACTIVE || worker.state == v1::WORKER_STANDBY) {
      members.push_back(&worker);
    }
  }
  for (auto& [id, worker] : workers_) {
    if (worker.ready && worker.state == v1::WORKER_STANDBY && !IsMember(id)) {
      others.push_back(&worker);
    }
  }
  std::sort(others.begin(), others.end(), [](const Worker* a, const Worker* b) {
    return a->join_sequence < b->join_sequence;
  });
  members.insert(members.end(), others.begin(), others.end());
  if (members.size() > static_cast<size_t>(max_workers_)) members.resize(max_workers_);
  return members;
}

bool Job::MaybeAnnounce(const std::string& reason, bool force) {
  if (finished_ || Pending()) return false;
  const std::vector<Worker*> desired = DesiredMembers();
  bool differs = desired.size() != static_cast<size_t>(formed_.members_size());
  for (size_t i = 0; !differs && i < desired.size(); ++i) {
    differs = desired[i]->id != formed_.members(static_cast<int>(i));
  }
  // A formed generation below the minimum (the operator raised it) must pause too.
  const bool below_minimum =
      formed_.generation() > 0 && formed_.members_size() < min_workers_;
  if (!differs && !force && !below_minimum) return false;
  if (desired.empty() && formed_.members_size() == 0) return false;
  ++announced_;
  announced_at_ = clock_->Now();
  AddEvent("generation", absl::StrCat("generation ", announced_, " announced: ", reason));
  return true;
}

void Job::TryForm() {
  if (finished_ || shutdown_ || !Pending()) return;
  const std::vector<Worker*> desired = DesiredMembers();
  std::vector<Worker*> ready;
  for (Worker* worker : desired) {
    if (worker->ready) ready.push_back(worker);
  }
  const absl::Time now = clock_->Now();
  if (desired.size() < static_cast<size_t>(min_workers_) ||
      ready.size() < static_cast<size_t>(min_workers_)) {
    if (desired.size() < static_cast<size_t>(min_workers_) && !paused_) {
      paused_ = true;
      AddEvent("paused", absl::StrCat("waiting for workers: ", desired.size(), " of at least ",
                                      min_workers_));
    }
    return;
  }
  const bool all_ready = ready.size() == desired.size();
  const bool joins_settled = now - last_join_ >= options_.join_settle ||
                             desired.size() == static_cast<size_t>(max_workers_);
  const bool settle_passed = now - announced_at_ >= rendezvous_settle_;
  if ((all_ready && joins_settled) || settle_passed) Form(ready);
}

void Job::Form(const std::vector<Worker*>& members) {
  journal::Generation generation;
  generation.set_generation(announced_);
  generation.set_store_prefix(StorePrefix(announced_));
  // The state source: the member with the most progress that the ledger has fully recorded. A
  // member ahead of the ledger applied windows nobody reported (its reports were lost): its
  // model cannot be matched with the accounting, so it is not a source; if every member with
  // state is ahead, the job resumes from its latest checkpoint and trains those windows again.
  int32_t source = -1;
  int64_t source_step = -1;
  int64_t source_generation = 0;
  int64_t ahead_of_ledger = 0;
  for (size_t rank = 0; rank < members.size(); ++rank) {
    generation.add_members(members[rank]->id);
    const int64_t step = members[rank]->ready_step;
    if (step > ledger_.max_step()) {
      ++ahead_of_ledger;
      continue;
    }
    if (step > source_step) {
      source_step = step;
      source = static_cast<int32_t>(rank);
      source_generation = members[rank]->ready_state_generation;
    }
  }
  std::string detail;
  if (ahead_of_ledger > 0) {
    detail = absl::StrCat("; ", ahead_of_ledger, " member(s) ahead of the recorded step ",
                          ledger_.max_step(), " (unreported windows) are not a state source");
  }
  if (source >= 0 && source_step == 0 && ledger_.max_step() == 0) {
    // Step 0 is the initialisation every worker makes alike: nothing to take from a member.
    source = -1;
  }
  if (source >= 0) {
    if (source_step < ledger_.max_step()) {
      // The survivors never applied the last recorded windows (their reporter got further than
      // they did): give those positions back, or they would never be trained.
      auto snapshot = ledger_.SnapshotAt(source_step);
      absl::Status rolled = snapshot.ok() ? ledger_.RestoreSnapshot(*snapshot, source_step)
                                          : snapshot.status();
      if (!rolled.ok()) {
        absl::StrAppend(&detail, "; ledger rollback failed: ", rolled.message());
      }
    }
    generation.set_global_step(source_step);
    generation.set_origin("member");
    generation.set_parent_generation(source_generation);
  } else if (ledger_.max_step() > 0) {
    // Nobody holds state but the job has progress: resume from the latest checkpoint, and
    // roll the accounting back with the model, exactly, to the snapshot the checkpoint keeps.
    const journal::Checkpoint* latest = checkpoints_.Latest();
    const std::vector<journal::EpochConsumed> snapshot =
        latest == nullptr ? std::vector<journal::EpochConsumed>()
                          : std::vector<journal::EpochConsumed>(latest->progress().begin(),
                                                                latest->progress().end());
    const int64_t step = latest == nullptr ? 0 : latest->info().global_step();
    if (auto status = ledger_.RestoreSnapshot(snapshot, step); !status.ok()) {
      absl::StrAppend(&detail, "; ledger rollback failed: ", status.message());
    }
    if (latest != nullptr) {
      generation.set_resume_checkpoint(latest->info().path());
      generation.set_origin("checkpoint");
      generation.set_parent_generation(latest->generation());
      absl::StrAppend(&detail, "; no member holds state: resuming from checkpoint ",
                      latest->info().path(), " at step ", step);
    } else {
      generation.set_origin("initialisation");
      absl::StrAppend(&detail, "; no member holds state and there is no checkpoint: "
                               "restarting from initialisation");
    }
    generation.set_global_step(step);
  } else {
    generation.set_global_step(0);
    generation.set_origin("initialisation");
  }
  generation.set_state_source_rank(source);
  *generation.mutable_plan() = ledger_.Plan();

  const int64_t old_generation = formed_.generation();
  formed_ = std::move(generation);
  formed_lost_member_ = false;
  history_.push_back(formed_);
  for (auto& [id, worker] : workers_) {
    const bool member = IsMember(id);
    if (member) worker.ready = false;
    if (worker.state == v1::WORKER_ACTIVE || worker.state == v1::WORKER_STANDBY) {
      worker.state = member ? v1::WORKER_ACTIVE : v1::WORKER_STANDBY;
    }
  }
  if (options_.store != nullptr) {
    for (int64_t g = std::max<int64_t>(1, old_generation); g < formed_.generation(); ++g) {
      options_.store->DeletePrefix(StorePrefix(g));
    }
  }
  if (paused_) {
    paused_ = false;
    AddEvent("resumed", absl::StrCat("generation ", formed_.generation(), " has ",
                                     members.size(), " workers"));
  }
  AddEvent("generation",
           absl::StrCat("generation ", formed_.generation(), " formed: world ", members.size(),
                        ", state from rank ", source, ", step ", formed_.global_step(),
                        ", epoch ", formed_.plan().epoch(), ", ",
                        ToPositionSet(formed_.plan().remaining()).size(), " positions left",
                        detail));
  // A worker excluded while forming (settle period, or over max_workers) is not desired any
  // more, so this announces only for changes that happened meanwhile (e.g. a death).
  MaybeAnnounce("membership changed while generation formed");
}

bool Job::TrainingDone() const {
  const int64_t max_steps = options_.spec.max_steps();
  return ledger_.all_complete() || (max_steps > 0 && ledger_.max_step() >= max_steps);
}

void Job::MaybeFinish() {
  if (finished_) return;
  const int64_t max_steps = options_.spec.max_steps();
  const bool steps_done = max_steps > 0 && ledger_.max_step() >= max_steps;
  if (!TrainingDone()) return;
  // After the last step the workers evaluate and write the final checkpoint: the job is
  // finished once that is recorded, so it never looks finished without its final model.
  if (!checkpoints_.HasStepAtLeast(ledger_.max_step())) return;
  finished_ = true;
  AddEvent("finished", absl::StrCat("job finished at step ", ledger_.max_step(),
                                    steps_done ? " (max_steps)" : " (all epochs)"));
}

void Job::MaybeStopEarly() {
  const int patience = options_.spec.early_stopping_patience();
  if (finished_ || patience <= 0) return;
  const int without = EvaluationsWithoutImprovement(evaluations_, best_metric_,
                                                    options_.spec.early_stopping_threshold());
  if (without < patience) return;
  finished_ = true;
  stopped_early_ = true;
  auto best = checkpoints_.Best();
  AddEvent("finished",
           absl::StrCat("early stopping at step ", ledger_.max_step(), ": ", without,
                        " evaluations without improving ", options_.spec.best_metric(),
                        best.ok() ? absl::StrCat("; best checkpoint ", best->path()) : ""));
}

void Job::AddEvent(const std::string& kind, const std::string& detail) {
  v1::JobEvent& event = events_.emplace_back();
  event.set_time_unix(absl::ToDoubleSeconds(clock_->Now() - absl::UnixEpoch()));
  event.set_kind(kind);
  event.set_detail(detail);
  event.set_generation(announced_);
  event.set_global_step(ledger_.max_step());
}

void Job::JournalAndNotify() {
  changed_.SignalAll();
  if (options_.journal_dir.empty()) return;
  absl::Status status = WriteJournal(options_.journal_dir, JournalStateLocked());
  if (!status.ok()) {
    // Keep serving (the workers' progress is not lost yet), but say so loudly.
    journal_error_ = std::string(status.message());
    Logf("journal write failed: %s", journal_error_.c_str());
  } else {
    journal_error_.clear();
  }
}

journal::State Job::JournalState() const {
  absl::ReaderMutexLock lock(&mu_);
  return JournalStateLocked();
}

journal::State Job::JournalStateLocked() const {
  journal::State state;
  state.set_version(kJournalVersion);
  *state.mutable_spec() = options_.spec;
  state.set_train_samples(static_cast<int64_t>(options_.train_samples));
  state.set_validation_samples(static_cast<int64_t>(options_.validation_samples));
  state.set_min_workers(min_workers_);
  state.set_max_workers(max_workers_);
  state.set_next_join_sequence(next_join_sequence_);
  for (const auto& [id, worker] : workers_) {
    journal::Worker* record = state.add_workers();
    record->set_worker_id(id);
    record->set_name(worker.name);
    record->set_host(worker.host);
    record->set_gpus(worker.gpus);
    record->set_state(worker.state);
    record->set_join_sequence(worker.join_sequence);
    record->set_global_step(worker.global_step);
    record->set_epoch(worker.epoch);
    record->set_loss(worker.loss);
    record->set_samples_per_second(worker.samples_per_second);
  }
  state.set_announced_generation(announced_);
  *state.mutable_formed() = formed_;
  for (const journal::Generation& entry : history_) *state.add_history() = entry;
  *state.mutable_ledger() = ledger_.ToProto();
  for (const journal::Checkpoint& checkpoint : checkpoints_.all()) {
    *state.add_checkpoints() = checkpoint;
  }
  for (const v1::EvaluationMetrics& metrics : evaluations_) *state.add_evaluations() = metrics;
  for (const std::string& path : pending_deletions_) state.add_pending_deletions(path);
  for (const v1::JobEvent& event : events_) *state.add_events() = event;
  state.set_finished(finished_);
  state.set_stopped_early(stopped_early_);
  state.set_failure(failure_);
  state.set_loss(loss_);
  return state;
}

v1::RendezvousResponse Job::Assignment(const std::string& worker_id) const {
  v1::RendezvousResponse response;
  response.set_generation(formed_.generation());
  response.set_rank(RankOf(worker_id));
  response.set_world_size(formed_.members_size());
  response.set_store_prefix(formed_.store_prefix());
  response.set_state_source_rank(formed_.state_source_rank());
  response.set_global_step(formed_.global_step());
  *response.mutable_plan() = formed_.plan();
  response.set_resume_checkpoint(formed_.resume_checkpoint());
  response.set_job_finished(finished_);
  response.set_job_failure(failure_);
  return response;
}

absl::Status Job::CheckReportGeneration(int64_t generation, bool allow_older) const {
  if (generation <= 0) {
    return absl::InvalidArgumentError("generation is required (the generation trained in)");
  }
  if (generation > formed_.generation()) {
    return absl::InvalidArgumentError(absl::StrCat("generation ", generation,
                                                   " has not formed (newest formed: ",
                                                   formed_.generation(), ")"));
  }
  if (generation < formed_.generation() && !allow_older) {
    return absl::FailedPreconditionError(
        absl::StrCat("stale generation ", generation, ": generation ", formed_.generation(),
                     " has formed since (current generation ", announced_, ")"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- worker-facing

absl::StatusOr<v1::JoinResponse> Job::Join(const v1::JoinRequest& request) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return absl::UnavailableError("coordinator shutting down");
  const int64_t sequence = next_join_sequence_++;
  Worker& worker = workers_[absl::StrCat("w-", sequence)];
  worker.id = absl::StrCat("w-", sequence);
  worker.name = request.name();
  worker.host = request.host();
  worker.gpus = request.gpus();
  worker.join_sequence = sequence;
  worker.last_seen = clock_->Now();
  last_join_ = worker.last_seen;
  AddEvent("worker_joined", absl::StrCat(worker.id, " (", request.name(), " at ",
                                         request.host(), ")"));
  JournalAndNotify();
  v1::JoinResponse response;
  response.set_worker_id(worker.id);
  *response.mutable_spec() = options_.spec;
  response.mutable_spec()->set_min_workers(min_workers_);
  response.mutable_spec()->set_max_workers(max_workers_);
  // Five heartbeats per timeout, so one lost heartbeat never kills a worker.
  response.set_heartbeat_interval_ms(
      std::clamp(options_.spec.heartbeat_timeout_ms() / 5, 10, 1000));
  return response;
}

absl::StatusOr<v1::RendezvousResponse> Job::Rendezvous(const v1::RendezvousRequest& request,
                                                       absl::Duration max_wait,
                                                       const std::function<bool()>& cancelled) {
  const absl::Time poll_end = absl::Now() + std::min(max_wait, options_.rendezvous_poll);
  absl::MutexLock lock(&mu_);
  auto found = FindLiveWorker(request.worker_id(), "rendezvous");
  if (!found.ok()) return found.status();
  Worker* worker = *found;
  if (worker->state == v1::WORKER_DRAINING) {
    return absl::FailedPreconditionError(
        absl::StrCat("rendezvous: worker ", worker->id, " is drained; call Leave"));
  }
  if (request.last_generation() < 0 || request.last_generation() > announced_) {
    return absl::InvalidArgumentError(absl::StrCat("rendezvous: last_generation ",
                                                   request.last_generation(),
                                                   " is not a generation of this job"));
  }
  worker->last_seen = clock_->Now();
  auto assigned = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return formed_.generation() > request.last_generation() && IsMember(worker->id);
  };
  if (finished_ || assigned()) return Assignment(worker->id);

  worker->ready = true;
  worker->ready_step = request.global_step();
  worker->ready_state_generation = request.global_step() >= 0 ? request.state_generation() : 0;
  if (IsMember(worker->id)) {
    // A member of the newest generation wants a new one: its collective failed before we
    // noticed anything (or it was told by a heartbeat and this is the announced one). Unless
    // training is over: then it is a rank that finished before rank 0's final checkpoint
    // arrived, and it waits for the job to finish (a death still regroups, through Tick).
    // Rank 0 itself writes the final checkpoint and reports it before asking: asking without
    // it, its write failed, and only a new generation tries again.
    if (!TrainingDone() || RankOf(worker->id) == 0) {
      MaybeAnnounce(absl::StrCat(worker->id, " asked to regroup"), /*force=*/true);
    }
  } else {
    MaybeAnnounce(absl::StrCat(worker->id, " wants to join"));
  }
  TryForm();
  JournalAndNotify();
  ++worker->in_rendezvous;
  while (!finished_ && !shutdown_ && !assigned() &&
         (worker->state == v1::WORKER_ACTIVE || worker->state == v1::WORKER_STANDBY)) {
    const absl::Time now = absl::Now();
    if (now >= poll_end) break;
    if (cancelled && cancelled()) break;
    changed_.WaitWithDeadline(&mu_, std::min(poll_end, now + kCancelPoll));
  }
  --worker->in_rendezvous;
  worker->last_seen = clock_->Now();
  if (finished_ || assigned()) return Assignment(worker->id);
  if (shutdown_) return absl::UnavailableError("rendezvous: coordinator shutting down");
  if (worker->state == v1::WORKER_DRAINING) {
    return absl::FailedPreconditionError(
        absl::StrCat("rendezvous: worker ", worker->id, " is drained; call Leave"));
  }
  if (worker->state == v1::WORKER_DEAD || worker->state == v1::WORKER_LEFT) {
    return absl::FailedPreconditionError(
        absl::StrCat("rendezvous: worker ", worker->id, " is no longer part of the job"));
  }
  if (cancelled && cancelled()) return absl::CancelledError("rendezvous: call cancelled");
  const std::vector<Worker*> desired = DesiredMembers();
  const bool standby = std::find(desired.begin(), desired.end(), worker) == desired.end();
  return absl::UnavailableError(absl::StrCat(
      "rendezvous: generation ", announced_, " has not formed yet (",
      standby ? absl::StrCat("standby: ", max_workers_, " workers already wanted")
              : absl::StrCat(desired.size(), " workers wanted, at least ", min_workers_,
                             " needed"),
      "); call Rendezvous again"));
}

absl::StatusOr<v1::HeartbeatResponse> Job::Heartbeat(const v1::HeartbeatRequest& request) {
  absl::MutexLock lock(&mu_);
  auto found = FindLiveWorker(request.worker_id(), "heartbeat");
  if (!found.ok()) return found.status();
  Worker* worker = *found;
  worker->last_seen = clock_->Now();
  if (request.generation() < 0 || request.generation() > announced_) {
    return absl::InvalidArgumentError(absl::StrCat("heartbeat: generation ",
                                                    request.generation(),
                                                    " is not a generation of this job"));
  }
  // A drained worker must learn it is drained even when its generation went stale meanwhile
  // (the others may have regrouped without it): it then leaves instead of rendezvousing.
  if (request.generation() > 0 && request.generation() < formed_.generation() &&
      !IsMember(worker->id) && worker->state != v1::WORKER_DRAINING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "heartbeat: stale generation ", request.generation(), " (current generation ",
        announced_, "): stop training and call Rendezvous"));
  }
  worker->global_step = request.global_step();
  worker->epoch = request.epoch();
  worker->loss = request.loss();
  worker->samples_per_second = request.samples_per_second();
  v1::HeartbeatResponse response;
  response.set_generation(announced_);
  response.set_drain(worker->state == v1::WORKER_DRAINING);
  response.set_job_finished(finished_);
  response.set_abort_collectives(formed_lost_member_ &&
                                 request.generation() == formed_.generation());
  return response;
}

absl::StatusOr<bool> Job::RecordWindow(const v1::WindowReport& report) {
  auto it = workers_.find(report.worker_id());
  if (it == workers_.end()) {
    return absl::NotFoundError(
        absl::StrCat("report window: unknown worker id '", report.worker_id(), "'"));
  }
  // A report from a worker declared dead meanwhile is still a step its generation applied.
  if (auto status = CheckReportGeneration(report.generation(), /*allow_older=*/false);
      !status.ok()) {
    return absl::Status(status.code(), absl::StrCat("report window: ", status.message()));
  }
  it->second.last_seen = clock_->Now();
  auto result =
      ledger_.Record(report.epoch(), report.global_step(), ToPositionSet(report.consumed()));
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat("report window: ", result.status().message()));
  }
  if (result->outcome == EpochLedger::Outcome::kDuplicate) return false;
  loss_ = report.loss();
  if (options_.curves != nullptr) {
    StepPoint point;
    point.global_step = report.global_step();
    point.loss = report.loss();
    point.learning_rate = report.learning_rate();
    point.samples_per_second = MembersSamplesPerSecond();
    point.wall_time = absl::ToDoubleSeconds(clock_->Now() - absl::UnixEpoch());
    options_.curves->RecordStep(point);
  }
  if (result->duplicated > 0) {
    Logf("step %lld consumed %llu positions of epoch %d again",
         static_cast<long long>(report.global_step()),
         static_cast<unsigned long long>(result->duplicated), report.epoch());
  }
  if (result->completed_epoch) {
    AddEvent("epoch_end", absl::StrCat("epoch ", report.epoch(), " complete at step ",
                                       report.global_step()));
  }
  MaybeFinish();
  return true;
}

absl::Status Job::ReportWindow(const v1::WindowReport& report) {
  absl::MutexLock lock(&mu_);
  auto changed = RecordWindow(report);
  if (!changed.ok()) return changed.status();
  if (*changed) JournalAndNotify();
  return absl::OkStatus();
}

v1::WindowReportsAck Job::ReportWindows(const v1::WindowReports& reports) {
  absl::MutexLock lock(&mu_);
  v1::WindowReportsAck ack;
  bool changed = false;
  for (const v1::WindowReport& report : reports.reports()) {
    auto recorded = RecordWindow(report);
    if (!recorded.ok()) {
      ack.set_refused_code(static_cast<int32_t>(recorded.status().code()));
      ack.set_refused_message(std::string(recorded.status().message()));
      break;
    }
    changed |= *recorded;
    ack.set_recorded(ack.recorded() + 1);
  }
  if (changed) JournalAndNotify();
  return ack;
}

absl::Status Job::ReportCheckpoint(const v1::CheckpointReport& report) {
  absl::MutexLock lock(&mu_);
  if (workers_.count(report.worker_id()) == 0) {
    return absl::NotFoundError(
        absl::StrCat("report checkpoint: unknown worker id '", report.worker_id(), "'"));
  }
  // A checkpoint written before a regroup is still a valid state of its step: keep it.
  if (auto status = CheckReportGeneration(report.generation(), /*allow_older=*/true);
      !status.ok()) {
    return absl::Status(status.code(), absl::StrCat("report checkpoint: ", status.message()));
  }
  if (report.path().empty()) {
    return absl::InvalidArgumentError("report checkpoint: path is required");
  }
  if (report.global_step() < 0 || report.epoch() < 0) {
    return absl::InvalidArgumentError("report checkpoint: negative global_step or epoch");
  }
  auto added = checkpoints_.Add(report, ledger_);
  if (!added.ok()) {
    return absl::Status(added.status().code(),
                        absl::StrCat("report checkpoint: ", added.status().message()));
  }
  if (!*added) return absl::OkStatus();  // a repeated report
  if (report.has_metrics()) {
    evaluations_.push_back(report.metrics());
    if (options_.curves != nullptr) {
      options_.curves->RecordEvaluation(
          report.metrics(), absl::ToDoubleSeconds(clock_->Now() - absl::UnixEpoch()),
          IsPretrainingObjective(options_.spec.objective()));
    }
    AddEvent("evaluation", absl::StrCat("epoch ", report.metrics().epoch(), " step ",
                                        report.metrics().global_step(), ": accuracy ",
                                        report.metrics().accuracy(), ", loss ",
                                        report.metrics().loss()));
  }
  AddEvent("checkpoint", absl::StrCat(report.path(), " at step ", report.global_step(),
                                      report.epoch_end() ? " (end of epoch)" : ""));
  MaybeStopEarly();
  ApplyRetention();
  MaybeFinish();
  JournalAndNotify();
  return absl::OkStatus();
}

absl::Status Job::Leave(const v1::LeaveRequest& request) {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(request.worker_id());
  if (it == workers_.end()) {
    return absl::NotFoundError(
        absl::StrCat("leave: unknown worker id '", request.worker_id(), "'"));
  }
  Worker& worker = it->second;
  if (worker.state == v1::WORKER_LEFT) return absl::OkStatus();
  worker.state = v1::WORKER_LEFT;
  worker.ready = false;
  AddEvent("worker_left", absl::StrCat(worker.id, request.reason().empty() ? "" : ": ",
                                       request.reason()));
  if (request.training_failed() && !finished_) {
    // As torchrun after --max-restarts: a worker that cannot train fails the job rather than
    // leave the others to regroup around the same error.
    finished_ = true;
    failure_ = absl::StrCat("worker ", worker.id, " (", worker.name, ") gave up at step ",
                            ledger_.max_step(), ": ", request.reason());
    AddEvent("failed", failure_);
  }
  MaybeAnnounce(absl::StrCat(worker.id, " left"));
  TryForm();
  JournalAndNotify();
  return absl::OkStatus();
}

// ---------------------------------------------------------------- operator-facing

v1::JobStatus Job::Status() const {
  absl::ReaderMutexLock lock(&mu_);
  v1::JobStatus status;
  const absl::Time now = clock_->Now();
  int64_t live = 0;
  for (const auto& [id, worker] : workers_) {
    if (worker.state != v1::WORKER_DEAD && worker.state != v1::WORKER_LEFT) ++live;
  }
  if (!failure_.empty()) {
    status.set_state(v1::JOB_FAILED);
    status.set_message(absl::StrCat("the job failed: ", failure_));
  } else if (finished_) {
    status.set_state(v1::JOB_FINISHED);
    status.set_message(stopped_early_ ? "the job stopped early: no improvement of its best_metric"
                                      : "the job is finished");
  } else if (paused_ || (formed_.generation() == 0 && live < min_workers_)) {
    status.set_state(v1::JOB_WAITING);
    status.set_message(absl::StrCat("waiting for at least ", min_workers_, " workers (",
                                    live, " live)"));
  } else {
    status.set_state(v1::JOB_RUNNING);
    if (Pending()) {
      status.set_message(absl::StrCat("forming generation ", announced_));
    }
  }
  if (!journal_error_.empty()) {
    status.set_message(absl::StrCat(status.message(), status.message().empty() ? "" : "; ",
                                    "journal write failed: ", journal_error_));
  }
  status.set_generation(announced_);
  status.set_epoch(std::min(ledger_.current_epoch(), ledger_.num_epochs() - 1));
  status.set_global_step(ledger_.max_step());
  status.set_min_workers(min_workers_);
  status.set_max_workers(max_workers_);
  status.set_train_samples(static_cast<int64_t>(options_.train_samples));
  status.set_validation_samples(static_cast<int64_t>(options_.validation_samples));
  status.set_loss(loss_);
  status.set_best_metric(options_.spec.best_metric().empty() ? "accuracy"
                                                             : options_.spec.best_metric());
  status.set_evaluations_without_improvement(EvaluationsWithoutImprovement(
      evaluations_, best_metric_, options_.spec.early_stopping_threshold()));
  status.set_stopped_early(stopped_early_);

  const double samples_per_second = MembersSamplesPerSecond();
  for (const auto& [id, worker] : workers_) {
    v1::WorkerStatus* out = status.add_workers();
    out->set_worker_id(id);
    out->set_name(worker.name);
    out->set_host(worker.host);
    out->set_state(worker.state);
    const int32_t rank = RankOf(id);
    out->set_rank(rank);
    out->set_global_step(worker.global_step);
    out->set_samples_per_second(worker.samples_per_second);
    // After a restart last_seen lies ahead (the grace period): nothing was missed yet.
    out->set_seconds_since_heartbeat(
        std::max(0.0, absl::ToDoubleSeconds(now - worker.last_seen)));
  }
  status.set_samples_per_second(samples_per_second);

  // Steps left at the current world size (a membership change moves the estimate).
  const int64_t per_step = int64_t{std::max(1, formed_.members_size())} *
                           options_.spec.batch_per_worker() *
                           options_.spec.gradient_accumulation();
  const int64_t remaining = static_cast<int64_t>(ledger_.remaining_samples());
  int64_t total_steps = ledger_.max_step() + (remaining + per_step - 1) / per_step;
  if (options_.spec.max_steps() > 0) total_steps = std::min(total_steps, options_.spec.max_steps());
  if (finished_) total_steps = ledger_.max_step();
  status.set_total_steps(total_steps);
  if (samples_per_second > 0 && !finished_) {
    const double samples_left = static_cast<double>(
        std::min<int64_t>(remaining, (total_steps - ledger_.max_step()) * per_step));
    status.set_eta_seconds(samples_left / samples_per_second);
  }
  for (const v1::EpochAccounting& entry : ledger_.Accounting()) *status.add_accounting() = entry;
  for (const v1::EvaluationMetrics& metrics : evaluations_) *status.add_evaluations() = metrics;
  for (const journal::Checkpoint& checkpoint : checkpoints_.all()) {
    *status.add_checkpoints() = checkpoint.info();
  }
  return status;
}

absl::StatusOr<v1::JobStatus> Job::SetWorkerLimits(int32_t min_workers, int32_t max_workers) {
  {
    absl::MutexLock lock(&mu_);
    if (min_workers < 0 || max_workers < 0) {
      return absl::InvalidArgumentError("set worker limits: limits must not be negative");
    }
    const int32_t new_min = min_workers > 0 ? min_workers : min_workers_;
    const int32_t new_max = max_workers > 0 ? max_workers : max_workers_;
    if (new_max < new_min) {
      return absl::InvalidArgumentError(absl::StrCat(
          "set worker limits: max_workers (", new_max, ") must be >= min_workers (", new_min,
          ")"));
    }
    if (new_min != min_workers_ || new_max != max_workers_) {
      min_workers_ = new_min;
      max_workers_ = new_max;
      AddEvent("limits", absl::StrCat("min_workers ", new_min, ", max_workers ", new_max));
      MaybeAnnounce(absl::StrCat("worker limits now ", new_min, "..", new_max));
      TryForm();
      JournalAndNotify();
    }
  }
  return Status();
}

absl::Status Job::DrainWorker(const std::string& worker_id) {
  absl::MutexLock lock(&mu_);
  auto found = FindLiveWorker(worker_id, "drain");
  if (!found.ok()) return found.status();
  Worker* worker = *found;
  if (worker->state == v1::WORKER_DRAINING) return absl::OkStatus();
  worker->state = v1::WORKER_DRAINING;
  worker->ready = false;
  AddEvent("draining", absl::StrCat(worker_id, " is draining"));
  MaybeAnnounce(absl::StrCat(worker_id, " drained"));
  TryForm();
  JournalAndNotify();
  return absl::OkStatus();
}

std::vector<v1::JobEvent> Job::WaitForEvents(int64_t after, absl::Duration wait,
                                             int64_t* next_after,
                                             const std::function<bool()>& cancelled) {
  const absl::Time end = absl::Now() + wait;
  absl::MutexLock lock(&mu_);
  after = std::max<int64_t>(after, 0);
  while (!shutdown_ && static_cast<int64_t>(events_.size()) <= after) {
    const absl::Time now = absl::Now();
    if (now >= end || (cancelled && cancelled())) break;
    changed_.WaitWithDeadline(&mu_, std::min(end, now + kCancelPoll));
  }
  std::vector<v1::JobEvent> events;
  for (int64_t i = after; i < static_cast<int64_t>(events_.size()); ++i) {
    events.push_back(events_[i]);
  }
  *next_after = std::max<int64_t>(after, static_cast<int64_t>(events_.size()));
  return events;
}

absl::StatusOr<v1::CheckpointInfo> Job::BestCheckpoint() const {
  absl::ReaderMutexLock lock(&mu_);
  return checkpoints_.Best();
}

void Job::RecordPublished(const std::string& checkpoint, const std::string& target,
                          int64_t version) {
  absl::MutexLock lock(&mu_);
  v1::Publication publication;
  publication.set_target(target);
  publication.set_version(version);
  checkpoints_.RecordPublished(checkpoint, publication);
  AddEvent("published", absl::StrCat(checkpoint, " to ", target, " as version ", version));
  JournalAndNotify();
}

double Job::MembersSamplesPerSecond() const {
  double sum = 0;
  for (const auto& [id, worker] : workers_) {
    if (worker.state == v1::WORKER_ACTIVE && IsMember(id)) sum += worker.samples_per_second;
  }
  return sum;
}

void Job::ApplyRetention() {
  std::set<std::string> kept(pinned_.begin(), pinned_.end());
  // The generation training now may still need its resume point (a rank that regroups before
  // the first checkpoint of the generation resumes it again).
  if (!formed_.resume_checkpoint().empty()) kept.insert(formed_.resume_checkpoint());
  for (const std::string& path : checkpoints_.Retain(options_.spec.keep_checkpoints(), kept)) {
    pending_deletions_.push_back(path);
    AddEvent("checkpoint_deleted",
             absl::StrCat(path, " (keep_checkpoints ", options_.spec.keep_checkpoints(), ")"));
  }
}

void Job::PinCheckpoint(const std::string& path) {
  absl::MutexLock lock(&mu_);
  pinned_.insert(path);
}

void Job::UnpinCheckpoint(const std::string& path) {
  absl::MutexLock lock(&mu_);
  auto it = pinned_.find(path);
  if (it == pinned_.end()) return;
  pinned_.erase(it);
  const size_t pending = pending_deletions_.size();
  ApplyRetention();
  if (pending_deletions_.size() != pending) JournalAndNotify();
}

std::vector<std::string> Job::PendingDeletions() const {
  absl::ReaderMutexLock lock(&mu_);
  return pending_deletions_;
}

void Job::DeletionDone(const std::string& path) {
  absl::MutexLock lock(&mu_);
  auto it = std::find(pending_deletions_.begin(), pending_deletions_.end(), path);
  if (it == pending_deletions_.end()) return;
  pending_deletions_.erase(it);
  JournalAndNotify();
}

void Job::Tick() {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return;
  const absl::Time now = clock_->Now();
  bool changed = false;
  for (auto& [id, worker] : workers_) {
    if (worker.state == v1::WORKER_DEAD || worker.state == v1::WORKER_LEFT) continue;
    if (worker.in_rendezvous > 0) continue;  // blocked in our long poll: alive
    if (now - worker.last_seen <= heartbeat_timeout_) continue;
    worker.state = v1::WORKER_DEAD;
    worker.ready = false;
    if (IsMember(id)) formed_lost_member_ = true;
    AddEvent("worker_dead", absl::StrCat(id, ": no heartbeat for ",
                                         absl::FormatDuration(now - worker.last_seen)));
    MaybeAnnounce(absl::StrCat(id, " died"));
    changed = true;
  }
  const int64_t formed_before = formed_.generation();
  const bool paused_before = paused_;
  TryForm();
  if (changed || formed_.generation() != formed_before || paused_ != paused_before) {
    JournalAndNotify();
  }
}

std::vector<std::string> Job::WaitingWorkers() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::string> waiting;
  for (const auto& [id, worker] : workers_) {
    if (worker.in_rendezvous > 0) waiting.push_back(id);
  }
  return waiting;
}

int64_t Job::announced_generation() const {
  absl::ReaderMutexLock lock(&mu_);
  return announced_;
}

bool Job::shutting_down() const {
  absl::ReaderMutexLock lock(&mu_);
  return shutdown_;
}

void Job::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
  changed_.SignalAll();
}

}  // namespace murmur::coordinator
