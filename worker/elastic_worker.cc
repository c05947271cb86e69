#include "worker/elastic_worker.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/file.h"
#include "base/logging.h"
#include "data/ingest.h"
#include "data/sampler.h"
#include "data/token_cache.h"
#include "proto/coordinator.grpc.pb.h"
#include "proto/job_conversions.h"
#include "text/tokenizer.h"
#include "worker/coordinator_client.h"
#include "worker/coordinator_store.h"
#include "worker/throughput_window.h"
#include "worker/trainer.h"
#include "worker/worker_metrics.h"
// One collective backend per build: Gloo in the CPU build, NCCL in the CUDA build (whose
// libtorch, PyTorch's, ships no Gloo headers).
#ifdef MURMUR_CUDA
#include "worker/nccl_communicator.h"
#else
#include "worker/gloo_communicator.h"
#endif

namespace murmur::worker {
namespace {

#ifdef MURMUR_CUDA
constexpr char kBuildBackend[] = "nccl";
constexpr char kWrongBuildMessage[] =
    "this worker is the CUDA build, which trains with nccl; the job's backend needs the CPU "
    "build of murmur-worker";
#else
constexpr char kBuildBackend[] = "gloo";
constexpr char kWrongBuildMessage[] =
    "the job's backend is nccl, but this worker is the CPU build: build it with --config=cuda "
    "against a CUDA libtorch (docs/operations.md, \"Training on GPUs\")";
#endif

using Clock = std::chrono::steady_clock;

// How long a worker waits for the coordinator when it cannot go on without it (delivering its
// reports before a Rendezvous, the Rendezvous itself) before giving up with an error.
constexpr absl::Duration kCoordinatorWait = absl::Minutes(30);
// The Rendezvous long poll (the coordinator ends its own poll at 15 s).
constexpr absl::Duration kRendezvousPoll = absl::Seconds(60);
// The step time that reported throughput averages over: long enough to smooth a 2-3x swing
// from step to step, short enough that a progress line every few seconds follows a real change.
constexpr double kRateWindowSeconds = 20;
// A declared-dead worker's reports of its old identity get this long to be delivered or
// refused before it joins again.
constexpr absl::Duration kRejoinFlush = absl::Seconds(10);

std::string DefaultName() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "/pid-", getpid());
}

}  // namespace

struct ElasticWorker::Impl {
  ElasticWorkerOptions options;
  std::shared_ptr<grpc::Channel> channel;  // the default backends' (store included)
  std::unique_ptr<CoordinatorClient> client;
  std::function<absl::StatusOr<std::unique_ptr<Communicator>>(const v1::RendezvousResponse&)>
      form_group;
  RetryPolicy retry;
  std::unique_ptr<ReportBuffer> reports;
  std::atomic<int64_t> refused_reports{0};  // from the buffer's thread
  v1::JobSpec spec;
  int heartbeat_interval_ms = 1000;

  std::unique_ptr<text::Tokenizer> tokenizer;
  std::unique_ptr<data::TokenCache> cache;
  // Null until a generation needs it, and after the state was discarded.
  std::unique_ptr<Trainer> trainer;
  // Whether trainer's state is one the job may build on (see RendezvousRequest.global_step),
  // and the generation that produced it.
  bool has_state = false;
  int64_t state_generation = 0;
  std::unique_ptr<WorkerMetrics> metrics;  // always set; served only with a metrics port
  std::FILE* trace = nullptr;

  // Shared with the heartbeat thread.
  absl::Mutex mu;
  std::string worker_id ABSL_GUARDED_BY(mu);
  int64_t generation ABSL_GUARDED_BY(mu) = 0;
  int64_t announced_generation ABSL_GUARDED_BY(mu) = 0;
  bool drain ABSL_GUARDED_BY(mu) = false;
  bool finished ABSL_GUARDED_BY(mu) = false;
  // The coordinator declared this worker dead (or forgot it): join again.
  bool rejoin ABSL_GUARDED_BY(mu) = false;
  // Last answer of any kind from the coordinator.
  Clock::time_point last_contact ABSL_GUARDED_BY(mu) = Clock::now();
  bool outage_logged ABSL_GUARDED_BY(mu) = false;
  // The group training now (borrowed from the training thread while it trains), so that the
  // heartbeat thread can abort it.
  Communicator* group ABSL_GUARDED_BY(mu) = nullptr;
  v1::HeartbeatRequest progress ABSL_GUARDED_BY(mu);
  std::atomic<bool> stop_heartbeats{false};

  // The spec's max_restarts, counted: generations in a row that failed by this worker's own
  // error (not a collective's) at the same step. Only the training thread uses them.
  int64_t failed_at_step = -1;
  int failures_without_progress = 0;
  // Set when this worker gave up (its Leave fails the job).
  bool training_failed = false;

  // Timed throughput (rank 0 reports it).
  int64_t timed_samples = 0;
  double timed_seconds = 0;
  int64_t steps_this_process = 0;
  double last_loss = 0;

  ~Impl() {
    reports.reset();  // its thread uses the client
    if (trace != nullptr) std::fclose(trace);
  }

  std::string WorkerId() {
    absl::MutexLock lock(&mu);
    return worker_id;
  }

  absl::Status Join() {
    v1::JoinRequest request;
    request.set_name(options.name);
    request.set_host(options.host);
    absl::StatusOr<v1::JoinResponse> response;
    retry.Run(
        [&] {
          response = client->Join(request);
          return response.status();
        },
        absl::Now() + absl::Seconds(options.join_timeout_seconds))
        .IgnoreError();  // `response` holds the last answer
    if (!response.ok()) return response.status();
    spec = response->spec();
    heartbeat_interval_ms = std::max(100, response->heartbeat_interval_ms());
    {
      absl::MutexLock lock(&mu);
      worker_id = response->worker_id();
      generation = 0;
      announced_generation = 0;
      finished = false;
      rejoin = false;
      last_contact = Clock::now();
    }
    Logf("[worker %s] joined as %s", options.name,
         response->worker_id().c_str());
    return absl::OkStatus();
  }

  absl::Status PrepareData() {
    auto created = text::Tokenizer::FromVocabFile(spec.vocab_path());
    if (!created.ok()) return created.status();
    tokenizer = *std::move(created);
    std::string cache_dir = options.cache_dir.empty()
                                ? spec.checkpoint_dir() + "/../cache"
                                : options.cache_dir;
    if (auto s = MakeDirectories(cache_dir); !s.ok()) return s;
    std::string cache_path = cache_dir + "/tokens.bin";
    auto report = data::Ingest(spec.corpus_path(), *tokenizer, cache_path, IngestOptionsFor(spec));
    if (!report.ok()) return report.status();
    auto opened = data::TokenCache::Open(cache_path);
    if (!opened.ok()) return opened.status();
    cache = *std::move(opened);
    if (!options.trace_dir.empty()) {
      if (auto s = MakeDirectories(options.trace_dir); !s.ok()) return s;
      std::string name = options.name;
      std::replace(name.begin(), name.end(), '/', '_');
      const std::string path = absl::StrCat(options.trace_dir, "/", name, "-", getpid(), ".trace");
      trace = std::fopen(path.c_str(), "a");
      if (trace == nullptr) return absl::InternalError(absl::StrCat("cannot open ", path));
    }
    return absl::OkStatus();
  }

  int64_t TotalSteps(int world_size) const {
    if (spec.max_steps() > 0) return spec.max_steps();
    const int64_t per_step = static_cast<int64_t>(world_size) * spec.batch_per_worker() *
                             spec.gradient_accumulation();
    const int64_t n = static_cast<int64_t>(cache->train_rows().size());
    return spec.epochs() * ((n + per_step - 1) / per_step);
  }

  absl::Status CreateTrainer() {
    TrainerOptions t;
    auto objective = ParseObjectiveKind(spec.objective());
    if (!objective.ok()) return objective.status();
    t.objective = *objective;
    t.preset = spec.model_preset();
    t.init_dir = spec.init_dir();
    t.vocab_path = spec.vocab_path();
    t.learning_rate = spec.learning_rate();
    t.warmup_ratio = spec.warmup_ratio();
    t.weight_decay = spec.weight_decay();
    t.max_grad_norm = spec.max_grad_norm();
    t.bf16 = spec.bf16();
    t.dropout = spec.dropout();
    t.token_dropout = spec.token_dropout();
    t.label_smoothing = spec.label_smoothing();
    t.max_eval_samples = spec.max_eval_samples();
    // 0 for classification, which masks nothing: the trainer keeps its default.
    if (spec.mask_probability() > 0) t.mask_probability = spec.mask_probability();
    const text::Vocab& vocab = tokenizer->vocab();
    t.mask_token_id = vocab.mask_id() >= 0 ? vocab.mask_id() : vocab.unk_id();
    t.seed = spec.seed();
    t.total_steps = TotalSteps(1);
    if (spec.backend() == "nccl") t.device = absl::StrCat("cuda:", options.cuda_device);
    t.threads = options.threads > 0
                    ? options.threads
                    : (spec.threads_per_worker() > 0
                           ? spec.threads_per_worker()
                           : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    auto created = Trainer::Create(t, cache.get());
    if (!created.ok()) return created.status();
    trainer = *std::move(created);
    return absl::OkStatus();
  }

  // Forgets the model: the job must not build on it (a declared-dead worker's state is stale, a
  // half-received broadcast is garbage). The next generation rebuilds it.
  void DiscardState() {
    trainer.reset();
    has_state = false;
    state_generation = 0;
  }

  void HeartbeatLoop() {
    while (!stop_heartbeats.load()) {
      HeartbeatOnce();
      // Coordinator unreachable: keep training and keep trying (it may be restarting).
      for (int waited = 0; waited < heartbeat_interval_ms && !stop_heartbeats.load();
           waited += 50) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }

  // One heartbeat; folds the answer (new generation, drain, job end, death) into the shared
  // flags, and aborts the group in flight when the coordinator says it cannot complete.
  void HeartbeatOnce() {
    v1::HeartbeatRequest request;
    {
      absl::MutexLock lock(&mu);
      request = progress;
      request.set_worker_id(worker_id);
      request.set_generation(generation);
    }
    auto response = client->Heartbeat(
        request, absl::Milliseconds(std::max(1000, heartbeat_interval_ms)));
    absl::MutexLock lock(&mu);
    if (request.worker_id() != worker_id) return;  // joined again meanwhile
    const absl::Status& status = response.status();
    if (RetryPolicy::Retryable(status)) {
      const double away = std::chrono::duration<double>(Clock::now() - last_contact).count();
      if (!outage_logged && away * 1000 > 2 * heartbeat_interval_ms) {
        outage_logged = true;
        Logf("[worker %s] coordinator unreachable (%s); training on, reports "
             "buffered", options.name, status.message());
      }
      return;
    }
    last_contact = Clock::now();
    if (outage_logged) {
      outage_logged = false;
      Logf("[worker %s] coordinator reachable again", options.name);
    }
    bool abort = false;
    if (status.ok()) {
      announced_generation = response->generation();
      drain = drain || response->drain();
      finished = finished || response->job_finished();
      abort = response->abort_collectives();
    } else if (absl::IsFailedPrecondition(status)) {
      // A stale generation: the others regrouped without this worker; regroup.
      announced_generation = std::max(announced_generation, generation + 1);
      abort = true;
    } else if (absl::IsAborted(status) || absl::IsNotFound(status)) {
      // Declared dead (or a coordinator that never knew us): the group went on without us.
      if (!rejoin) {
        Logf("[worker %s] %s: discarding state, joining again",
             options.name, status.message());
      }
      rejoin = true;
      abort = true;
    }
    if (abort && group != nullptr) group->Abort();
  }

  bool ShouldStop() {
    absl::MutexLock lock(&mu);
    const auto away = Clock::now() - last_contact;
    if (away > std::chrono::milliseconds(spec.coordinator_outage_ms())) {
      if (!finished) {
        Logf("[worker %s] no answer from the coordinator for %.0f s: stopping "
             "at this step boundary until it is back", options.name,
             std::chrono::duration<double>(away).count());
      }
      return true;
    }
    return drain || finished || rejoin || announced_generation != generation;
  }

  // Rendezvous, polling again while the generation forms or the coordinator is away.
  absl::StatusOr<v1::RendezvousResponse> Rendezvous(int64_t last_generation) {
    v1::RendezvousRequest request;
    request.set_worker_id(WorkerId());
    request.set_last_generation(last_generation);
    request.set_global_step(has_state ? trainer->global_step() : -1);
    request.set_state_generation(has_state ? state_generation : 0);
    absl::StatusOr<v1::RendezvousResponse> response;
    retry.Run(
        [&] {
          response = client->Rendezvous(request, kRendezvousPoll);
          if (response.ok() || !RetryPolicy::Retryable(response.status())) {
            absl::MutexLock lock(&mu);
            last_contact = Clock::now();
          }
          return response.status();
        },
        absl::Now() + kCoordinatorWait)
        .IgnoreError();  // `response` holds the last answer
    return response;
  }

  void ReportWindow(int64_t generation_id, int epoch, const data::PositionSet& window,
                    double loss, double learning_rate) {
    v1::WindowReport report;
    report.set_worker_id(WorkerId());
    report.set_generation(generation_id);
    report.set_epoch(epoch);
    report.set_global_step(trainer->global_step());
    ToRanges(window, report.mutable_consumed());
    report.set_loss(loss);
    report.set_learning_rate(learning_rate);
    reports->Add(std::move(report));
  }

  void ReportCheckpoint(int64_t generation_id, const std::string& path, int epoch,
                        bool epoch_end, const EvalResult* eval) {
    v1::CheckpointReport report;
    report.set_worker_id(WorkerId());
    report.set_generation(generation_id);
    report.set_path(path);
    report.set_global_step(trainer->global_step());
    report.set_epoch(epoch);
    report.set_epoch_end(epoch_end);
    if (eval != nullptr) {
      v1::EvaluationMetrics* m = report.mutable_metrics();
      m->set_epoch(epoch);
      m->set_global_step(trainer->global_step());
      m->set_loss(eval->loss);
      m->set_accuracy(eval->accuracy);
      m->set_detection_accuracy(eval->detection_accuracy);
      for (double v : eval->precision) m->add_precision(v);
      for (double v : eval->recall) m->add_recall(v);
      for (double v : eval->f1) m->add_f1(v);
      for (int64_t count : eval->confusion) m->add_confusion(count);
      m->set_examples(eval->examples);
    }
    reports->Add(std::move(report));
  }

  // The test-only trace line of the step about to be taken (see ElasticWorkerOptions).
  void TraceStep(int64_t gen, int rank, int world, int epoch,
                 const std::vector<std::vector<uint32_t>>& micro) {
    if (trace == nullptr) return;
    std::string line = absl::StrCat("g ", gen, " r ", rank, " w ", world, " s ",
                                    trainer->global_step() + 1, " e ", epoch, " rows");
    for (const auto& batch : micro) {
      for (uint32_t row : batch) absl::StrAppend(&line, " ", row);
    }
    line += "\n";
    // Written through to the kernel before the step, so a SIGKILL right after loses nothing.
    std::fwrite(line.data(), 1, line.size(), trace);
    std::fflush(trace);
  }
  // Evaluates (unless the spec skips it) and, on rank 0, writes and reports a checkpoint.
  absl::Status EvaluateAndCheckpoint(Communicator& comm, int64_t generation_id, int epoch,
                                     bool epoch_end) {
    EvalResult eval;
    bool evaluated = false;
    if (!spec.skip_evaluation()) {
      auto result = trainer->Evaluate(comm);
      if (!result.ok()) return result.status();
      eval = *result;
      evaluated = true;
      if (comm.rank() == 0 && eval.f1.empty()) {  // masked-LM: no classes
        Logf("[eval] epoch %d step %lld: loss %.4f masked-token accuracy %.4f "
             "(%lld texts)",
             epoch, static_cast<long long>(trainer->global_step()), eval.loss,
             eval.accuracy, static_cast<long long>(eval.examples));
      } else if (comm.rank() == 0) {
        Logf("[eval] epoch %d step %lld: loss %.4f accuracy %.4f f1 neg %.4f pos %.4f "
             "(%lld examples)",
             epoch, static_cast<long long>(trainer->global_step()), eval.loss,
             eval.accuracy, eval.f1.size() > 0 ? eval.f1[0] : 0,
             eval.f1.size() > 1 ? eval.f1[1] : 0, static_cast<long long>(eval.examples));
      }
    }
    if (comm.rank() != 0) return absl::OkStatus();
    std::string path = absl::StrCat(spec.checkpoint_dir(), "/step-", trainer->global_step());
    model::CheckpointInfo info;
    info.version = trainer->global_step();
    info.step = trainer->global_step();
    info.epoch = epoch_end ? epoch + 1 : epoch;
    if (evaluated) {
      info.metrics["eval_loss"] = eval.loss;
      info.metrics["eval_accuracy"] = eval.accuracy;
    }
    auto manifest = trainer->SaveCheckpoint(path, info);
    if (!manifest.ok()) return manifest.status();
    ReportCheckpoint(generation_id, path, epoch, epoch_end, evaluated ? &eval : nullptr);
    return absl::OkStatus();
  }

  // Trains one generation. Returns OK when the generation ends normally (membership change,
  // drain, job end); UNAVAILABLE when a collective failed (regroup); any other error is this
  // worker's own (a step, an evaluation, a checkpoint write: see CountFailure).
  absl::Status TrainGeneration(const v1::RendezvousResponse& assignment, Communicator& comm) {
    const int world = comm.world_size();
    const int rank = comm.rank();
    const int64_t gen = assignment.generation();
    metrics->StartGeneration(gen, rank, world);
    const int64_t per_rank =
        static_cast<int64_t>(spec.batch_per_worker()) * spec.gradient_accumulation();
    const int64_t n = static_cast<int64_t>(cache->train_rows().size());
    trainer->set_total_steps(TotalSteps(world));
    int epoch = assignment.plan().epoch();
    data::PositionSet remaining = ToPositionSet(assignment.plan().remaining());
    const std::vector<uint32_t>& train_rows = cache->train_rows();
    // The epoch's sample order, grouped by length so that a window's sequences are similar in
    // length (the attention products are padded to the longest).
    auto make_permutation = [&](int for_epoch) {
      auto order = std::make_unique<data::EpochPermutation>(static_cast<uint32_t>(n),
                                                            spec.seed(), for_epoch);
      order->GroupByLength(
          [&](uint32_t sample) { return cache->length(train_rows[sample]); }, spec.seed());
      return order;
    };
    auto permutation = make_permutation(epoch);
    auto last_progress = Clock::now();
    auto last_step_end = Clock::now();
    // What heartbeats and progress lines report: this rank's and the job's samples/s over the
    // last steps, not the last step's alone (ThroughputWindow says why).
    ThroughputWindow share_rate(kRateWindowSeconds), job_rate(kRateWindowSeconds);

    while (true) {
      at::Tensor flag = at::full({1}, ShouldStop() ? 1.0f : 0.0f);
      if (auto s = comm.AllReduceSync(flag, ReduceOp::kMax); !s.ok()) return s;
      if (flag.item<float>() > 0) return absl::OkStatus();
      const bool step_limit = spec.max_steps() > 0 && trainer->global_step() >= spec.max_steps();
      if (remaining.empty() || step_limit) {
        // End of the epoch (or of the job): evaluate, checkpoint, go on with the next epoch.
        const bool last_epoch = epoch + 1 >= spec.epochs();
        if (auto s = EvaluateAndCheckpoint(comm, gen, epoch, remaining.empty()); !s.ok()) {
          return s;
        }
        if (step_limit || last_epoch) {
          absl::MutexLock lock(&mu);
          finished = true;
          return absl::OkStatus();
        }
        ++epoch;
        remaining = data::PositionSet::Range(0, static_cast<uint64_t>(n));
        permutation = make_permutation(epoch);
        last_step_end = Clock::now();  // evaluation time is not step time
        continue;
      }
      data::PositionSet window = remaining.Prefix(static_cast<uint64_t>(world * per_rank));
      data::PositionSet share = window.SplitEvenly(world)[rank];
      std::vector<std::vector<uint32_t>> micro(spec.gradient_accumulation());
      int64_t index = 0;
      share.ForEach([&](uint64_t position) {
        micro[std::min<int64_t>(index / spec.batch_per_worker(),
                                spec.gradient_accumulation() - 1)]
            .push_back(train_rows[(*permutation)[position]]);
        ++index;
      });
      TraceStep(gen, rank, world, epoch, micro);
      auto result = trainer->Step(comm, micro, static_cast<int64_t>(window.size()));
      if (!result.ok()) return result.status();
      // Wall time from the previous step's end: the stop-flag agreement, batch assembly and
      // reporting count too, so the throughput is what the job really delivers.
      auto now = Clock::now();
      double seconds = std::chrono::duration<double>(now - last_step_end).count();
      last_step_end = now;
      remaining = remaining.Subtract(window);
      ReportWindow(gen, epoch, window, result->loss, result->learning_rate);
      ++steps_this_process;
      last_loss = result->loss;
      if (steps_this_process > options.warmup_steps) {
        timed_samples += static_cast<int64_t>(window.size());
        timed_seconds += seconds;
      }
      share_rate.Add(static_cast<int64_t>(share.size()), seconds);
      job_rate.Add(static_cast<int64_t>(window.size()), seconds);
      {
        absl::MutexLock lock(&mu);
        progress.set_global_step(trainer->global_step());
        progress.set_epoch(epoch);
        progress.set_loss(result->loss);
        // This rank's share: the coordinator adds the workers' rates up.
        progress.set_samples_per_second(share_rate.SamplesPerSecond());
        progress.set_step_seconds(seconds);
        progress.set_allreduce_seconds(result->sync_seconds);
      }
      metrics->RecordStep(seconds, result->sync_seconds, static_cast<int64_t>(share.size()),
                          result->loss, trainer->global_step());
      if (spec.checkpoint_every_steps() > 0 &&
          trainer->global_step() % spec.checkpoint_every_steps() == 0) {
        if (auto s = EvaluateAndCheckpoint(comm, gen, epoch, false); !s.ok()) return s;
        last_step_end = Clock::now();
      }
      if (rank == 0 && options.progress_seconds > 0 &&
          std::chrono::duration<double>(Clock::now() - last_progress).count() >=
              options.progress_seconds) {
        last_progress = Clock::now();
        const int64_t total = trainer->options().total_steps;
        const double rate = job_rate.SamplesPerSecond();
        const double eta = rate > 0 ? static_cast<double>(total - trainer->global_step()) *
                                          static_cast<double>(world * per_rank) / rate
                                    : 0.0;
        Logf("[train] gen %lld world %d epoch %d step %lld/%lld loss %.4f "
             "samples/s %.1f allreduce %.0f ms eta %.0f s",
             static_cast<long long>(gen), world, epoch,
             static_cast<long long>(trainer->global_step()),
             static_cast<long long>(total), result->loss, rate,
             result->sync_seconds * 1000, std::max(0.0, eta));
      }
    }
  }


  absl::Status Run() {
    if (auto s = Join(); !s.ok()) return s;
    std::thread heartbeats([this] { HeartbeatLoop(); });
    absl::Status status = RunJoined();
    stop_heartbeats = true;
    heartbeats.join();
    // What the coordinator has not heard yet (a drained worker's last windows) before leaving.
    if (auto flushed = reports->Flush(absl::Now() + absl::Seconds(30)); !flushed.ok()) {
      Logf("[worker %s] leaving with %zu reports undelivered: %s",
           options.name, reports->pending(),
           flushed.message());
    }
    v1::LeaveRequest leave;
    leave.set_worker_id(WorkerId());
    leave.set_reason(status.ok() ? "done" : std::string(status.message()));
    leave.set_training_failed(training_failed);
    client->Leave(leave).IgnoreError();  // best effort: the coordinator times us out anyway
    return status;
  }

  // The collective group of one generation: Gloo over TCP (CPU tensors), or NCCL (the model on
  // this worker's GPU), rendezvousing through the coordinator's store.
  absl::StatusOr<std::unique_ptr<Communicator>> FormGroup(
      const c10::intrusive_ptr<c10d::Store>& store, const v1::RendezvousResponse& assignment) {
    const std::chrono::milliseconds timeout(spec.collective_timeout_ms());
#ifdef MURMUR_CUDA
    NcclOptions nccl;
    nccl.device = options.cuda_device;
    nccl.timeout = timeout;
    nccl.store_prefix = assignment.store_prefix();
    return CreateNcclCommunicator(store, assignment.rank(), assignment.world_size(), nccl);
#else
    GlooOptions gloo;
    gloo.host = options.host;
    gloo.timeout = timeout;
    gloo.store_prefix = assignment.store_prefix();
    return CreateGlooCommunicator(store, assignment.rank(), assignment.world_size(), gloo);
#endif
  }

  // Takes the state the generation starts from: the source rank's (broadcast), the checkpoint
  // to resume (rank 0 reads it and broadcasts, so only one host needs the files), or a fresh
  // initialisation (the same on every rank: seeded).
  absl::Status SyncState(const v1::RendezvousResponse& assignment, Communicator& comm) {
    const int source = assignment.state_source_rank();
    if (source < 0 && assignment.resume_checkpoint().empty() && trainer != nullptr &&
        trainer->global_step() != 0) {
      DiscardState();  // told to start from initialisation, but this model has trained
    }
    if (trainer == nullptr) {
      if (auto s = CreateTrainer(); !s.ok()) return s;
    }
    absl::Status synced = absl::OkStatus();
    if (source >= 0) {
      if (assignment.world_size() > 1) synced = trainer->BroadcastState(comm, source);
    } else if (!assignment.resume_checkpoint().empty()) {
      if (comm.rank() == 0) synced = trainer->LoadCheckpoint(assignment.resume_checkpoint());
      if (synced.ok() && assignment.world_size() > 1) synced = trainer->BroadcastState(comm, 0);
    }
    if (!synced.ok()) {
      // A receiver of a broken broadcast holds a mix of two states.
      if (comm.rank() != source) DiscardState();
      return synced;
    }
    if (trainer->global_step() != assignment.global_step()) {
      DiscardState();
      return absl::InternalError(absl::StrCat(
          "the state taken is at step ", trainer->global_step(), ", the generation starts at ",
          assignment.global_step()));
    }
    has_state = true;
    state_generation = assignment.generation();
    return absl::OkStatus();
  }

  // Joins again as a new worker after the coordinator declared this one dead.
  absl::Status Rejoin() {
    // The old identity's reports: those of a generation that is still current count.
    reports->Flush(absl::Now() + kRejoinFlush).IgnoreError();
    DiscardState();
    return Join();
  }

  absl::Status RunJoined() {
    // Refused before any work, rather than failing to form every generation's group.
    if (spec.backend() != kBuildBackend) return absl::FailedPreconditionError(kWrongBuildMessage);
    if (auto s = PrepareData(); !s.ok()) return s;
    int64_t last_generation = 0;
    while (true) {
      // The group may have stopped because of another rank's news: learn whether this worker
      // was drained (or declared dead) before asking to join the next generation.
      HeartbeatOnce();
      bool rejoin_now = false;
      {
        absl::MutexLock lock(&mu);
        if (drain) return absl::OkStatus();
        rejoin_now = rejoin;
      }
      if (rejoin_now) {
        if (auto s = Rejoin(); !s.ok()) return s;
        last_generation = 0;
        continue;
      }
      // Report before Rendezvous: the next generation's plan is computed from the ledger.
      if (auto s = reports->Flush(absl::Now() + kCoordinatorWait); !s.ok()) return s;
      auto assignment = Rendezvous(last_generation);
      if (absl::IsAborted(assignment.status()) || absl::IsNotFound(assignment.status())) {
        absl::MutexLock lock(&mu);
        rejoin = true;
        continue;
      }
      if (!assignment.ok()) return assignment.status();
      if (assignment->job_finished()) {
        WriteSummary();
        if (!assignment->job_failure().empty()) {
          return absl::AbortedError(absl::StrCat("the job failed: ", assignment->job_failure()));
        }
        return absl::OkStatus();
      }
      {
        absl::MutexLock lock(&mu);
        generation = assignment->generation();
        announced_generation = std::max(announced_generation, generation);
        finished = false;
      }
      last_generation = assignment->generation();
      auto comm = form_group(*assignment);
      if (!comm.ok()) {
        Logf("[worker %s] generation %lld: %s; regrouping",
             options.name, static_cast<long long>(last_generation),
             comm.status().message());
        continue;
      }
      Logf("[worker %s] generation %lld: rank %d of %d, step %lld, epoch %d",
           options.name, static_cast<long long>(last_generation),
           assignment->rank(), assignment->world_size(),
           static_cast<long long>(assignment->global_step()),
           assignment->plan().epoch());
      {
        absl::MutexLock lock(&mu);
        group = comm->get();
        // The news may have come while the group formed.
        if (rejoin || announced_generation > generation) group->Abort();
      }
      absl::Status trained = SyncState(*assignment, **comm);
      if (!trained.ok()) {
        Logf("[worker %s] state sync failed: %s; regrouping",
             options.name, trained.message());
      } else {
        trained = TrainGeneration(*assignment, **comm);
        if (!trained.ok()) {
          Logf("[worker %s] generation %lld ended: %s; regrouping",
               options.name, static_cast<long long>(last_generation),
               trained.message());
        }
      }
      {
        absl::MutexLock lock(&mu);
        group = nullptr;
      }
      const int rank = (*comm)->rank();
      comm->reset();
      if (!trained.ok() && !absl::IsUnavailable(trained)) {
        if (auto s = CountFailure(trained, assignment->global_step()); !s.ok()) return s;
      }
      if (rank == 0) WriteSummary();
    }
  }
  // A generation failed by this worker's own error (UNAVAILABLE, a collective's failure, is not
  // one: members die and links drop, and the loop regroups around them without limit). A
  // deterministic error (a bug, a checkpoint directory that cannot be written) fails the same way
  // at the same step in every generation, so regrouping forever would hide it: like torchrun's
  // --max-restarts, the worker gives up after max_restarts such failures in a row, and its Leave
  // fails the job. A higher step between two failures is progress and starts the count again.
  absl::Status CountFailure(const absl::Status& error, int64_t generation_start_step) {
    const int64_t step = trainer != nullptr ? trainer->global_step() : generation_start_step;
    if (step != failed_at_step) {
      failed_at_step = step;
      failures_without_progress = 0;
    }
    ++failures_without_progress;
    if (failures_without_progress > spec.max_restarts()) {
      training_failed = true;
      return absl::Status(error.code(),
                          absl::StrCat("training failed ", failures_without_progress,
                                       " times in a row at step ", step, " (max_restarts ",
                                       spec.max_restarts(), "): ", error.message()));
    }
    Logf("[worker %s] restart %d of at most %d (step %lld)", options.name,
         failures_without_progress, spec.max_restarts(), static_cast<long long>(step));
    return absl::OkStatus();
  }

  void WriteSummary() {
    if (options.summary_path.empty() || timed_seconds <= 0) return;
    std::string json = absl::StrCat(
        "{\"samples_per_s\": ", timed_samples / timed_seconds, ", \"timed_steps\": ",
        steps_this_process - options.warmup_steps, ", \"global_step\": ",
        trainer ? trainer->global_step() : 0, ", \"loss\": ", last_loss, "}\n");
    WriteFileAtomically(options.summary_path, json).IgnoreError();
  }
};

ElasticWorker::ElasticWorker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ElasticWorker::~ElasticWorker() = default;

absl::StatusOr<std::unique_ptr<ElasticWorker>> ElasticWorker::Create(
    ElasticWorkerOptions options, ElasticWorkerDependencies dependencies) {
  if (options.coordinator.empty() && dependencies.coordinator == nullptr) {
    return absl::InvalidArgumentError("coordinator is required");
  }
  if (options.name.empty()) options.name = DefaultName();
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  if (dependencies.coordinator != nullptr) {
    impl->client = std::move(dependencies.coordinator);
  } else {
    impl->channel = CreateCoordinatorChannel(impl->options.coordinator);
    impl->client = CreateGrpcCoordinatorClient(impl->channel);
  }
  if (dependencies.form_group) {
    impl->form_group = std::move(dependencies.form_group);
  } else {
    if (impl->channel == nullptr) {
      return absl::InvalidArgumentError("form_group is required with an injected coordinator");
    }
    Impl* self = impl.get();
    // The store's timeout is the spec's collective timeout, known after Join: made on first use.
    auto store = std::make_shared<c10::intrusive_ptr<c10d::Store>>();
    impl->form_group = [self, store](const v1::RendezvousResponse& assignment) {
      if (!*store) {
        *store = c10::make_intrusive<CoordinatorStore>(
            self->channel, std::chrono::milliseconds(self->spec.collective_timeout_ms()));
      }
      return self->FormGroup(*store, assignment);
    };
  }
  Impl* self = impl.get();
  impl->reports = std::make_unique<ReportBuffer>(
      impl->client.get(), impl->retry, [self](const absl::Status& refused) {
        // A stale generation refuses every buffered report of it: say so, not each time.
        const int64_t count = ++self->refused_reports;
        if (count <= 3 || count % 100 == 0) {
          Logf("[worker %s] report refused (%lld so far): %s",
               self->options.name, static_cast<long long>(count),
               refused.message());
        }
      });
  auto metrics = WorkerMetrics::Create(impl->options.host, impl->options.metrics_port);
  if (!metrics.ok()) return metrics.status();
  impl->metrics = *std::move(metrics);
  if (impl->metrics->port() >= 0) {
    Logf("[worker %s] metrics on port %d", impl->options.name,
         impl->metrics->port());
  }
  return std::unique_ptr<ElasticWorker>(new ElasticWorker(std::move(impl)));
}

absl::Status ElasticWorker::Run() { return impl_->Run(); }

void ElasticWorker::RequestStop() {
  absl::MutexLock lock(&impl_->mu);
  impl_->drain = true;
}

}  // namespace murmur::worker
