#include "worker/elastic_worker.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/file.h"
#include "base/grpc_status.h"
#include "data/ingest.h"
#include "data/sampler.h"
#include "data/token_cache.h"
#include "proto/coordinator.grpc.pb.h"
#include "text/tokenizer.h"
#include "worker/coordinator_store.h"
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

absl::Status FromGrpc(const grpc::Status& status, const char* what) {
  absl::Status converted = FromGrpcStatus(status);
  return absl::Status(converted.code(), absl::StrCat(what, ": ", converted.message()));
}

bool Retryable(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

data::PositionSet FromProto(const google::protobuf::RepeatedPtrField<v1::PositionRange>& ranges) {
  std::vector<data::PositionRange> out;
  for (const auto& range : ranges) {
    out.push_back({static_cast<uint64_t>(range.begin()), static_cast<uint64_t>(range.end())});
  }
  return data::PositionSet::FromRanges(std::move(out));
}

void ToProto(const data::PositionSet& set,
             google::protobuf::RepeatedPtrField<v1::PositionRange>* out) {
  for (const auto& range : set.ranges()) {
    v1::PositionRange* r = out->Add();
    r->set_begin(static_cast<int64_t>(range.begin));
    r->set_end(static_cast<int64_t>(range.end));
  }
}

std::string DefaultName() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "/pid-", getpid());
}

}  // namespace

struct ElasticWorker::Impl {
  ElasticWorkerOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::WorkerCoordination::Stub> stub;
  std::string worker_id;
  v1::JobSpec spec;
  int heartbeat_interval_ms = 1000;

  std::unique_ptr<text::Tokenizer> tokenizer;
  std::unique_ptr<data::TokenCache> cache;
  std::unique_ptr<Trainer> trainer;
  std::unique_ptr<WorkerMetrics> metrics;  // always set; served only with a metrics port

  // Shared with the heartbeat thread.
  absl::Mutex mu;
  int64_t generation ABSL_GUARDED_BY(mu) = 0;
  int64_t announced_generation ABSL_GUARDED_BY(mu) = 0;
  bool drain ABSL_GUARDED_BY(mu) = false;
  bool finished ABSL_GUARDED_BY(mu) = false;
  v1::HeartbeatRequest progress ABSL_GUARDED_BY(mu);
  std::atomic<bool> stop_heartbeats{false};

  // Timed throughput (rank 0 reports it).
  int64_t timed_samples = 0;
  double timed_seconds = 0;
  int64_t steps_this_process = 0;
  double last_loss = 0;

  std::unique_ptr<grpc::ClientContext> Context(double seconds) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
    return context;
  }

  absl::Status Join() {
    v1::JoinRequest request;
    request.set_name(options.name);
    request.set_host(options.host);
    v1::JoinResponse response;
    auto deadline = Clock::now() + std::chrono::milliseconds(
                                       static_cast<int64_t>(options.join_timeout_seconds * 1000));
    while (true) {
      auto context = Context(10);
      grpc::Status status = stub->Join(context.get(), request, &response);
      if (status.ok()) break;
      if (!Retryable(status) || Clock::now() > deadline) return FromGrpc(status, "join");
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    worker_id = response.worker_id();
    spec = response.spec();
    heartbeat_interval_ms = std::max(100, response.heartbeat_interval_ms());
    std::fprintf(stderr, "[worker %s] joined as %s\n", options.name.c_str(), worker_id.c_str());
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
    data::IngestOptions ingest;
    ingest.max_length = spec.max_length();
    ingest.split.validation_fraction = spec.validation_fraction();
    ingest.split.seed = spec.seed();
    std::string cache_path = cache_dir + "/tokens.bin";
    auto report = data::Ingest(spec.corpus_path(), *tokenizer, cache_path, ingest);
    if (!report.ok()) return report.status();
    auto opened = data::TokenCache::Open(cache_path);
    if (!opened.ok()) return opened.status();
    cache = *std::move(opened);
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

  // One heartbeat; folds the answer (new generation, drain, job end) into the shared flags.
  void HeartbeatOnce() {
    {
      v1::HeartbeatRequest request;
      {
        absl::MutexLock lock(&mu);
        request = progress;
        request.set_worker_id(worker_id);
        request.set_generation(generation);
      }
      v1::HeartbeatResponse response;
      auto context = Context(std::max(1.0, heartbeat_interval_ms / 1000.0));
      grpc::Status status = stub->Heartbeat(context.get(), request, &response);
      if (status.ok() || status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        absl::MutexLock lock(&mu);
        if (status.ok()) {
          announced_generation = response.generation();
          drain = drain || response.drain();
          finished = finished || response.job_finished();
        } else {
          // A stale generation: the coordinator moved on; regroup.
          announced_generation = std::max(announced_generation, generation + 1);
        }
      }
    }
  }

  bool ShouldStop() {
    absl::MutexLock lock(&mu);
    return drain || finished || announced_generation != generation;
  }

  // Rendezvous with retries while the coordinator is away or the generation is still forming.
  absl::StatusOr<v1::RendezvousResponse> Rendezvous(int64_t last_generation) {
    v1::RendezvousRequest request;
    request.set_worker_id(worker_id);
    request.set_last_generation(last_generation);
    request.set_global_step(trainer ? trainer->global_step() : -1);
    auto deadline = Clock::now() + std::chrono::minutes(30);
    while (true) {
      v1::RendezvousResponse response;
      auto context = Context(60);
      grpc::Status status = stub->Rendezvous(context.get(), request, &response);
      if (status.ok()) return response;
      if (!Retryable(status) || Clock::now() > deadline) return FromGrpc(status, "rendezvous");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  void ReportWindow(int64_t generation_id, int epoch, const data::PositionSet& window,
                    double loss) {
    v1::WindowReport report;
    report.set_worker_id(worker_id);
    report.set_generation(generation_id);
    report.set_epoch(epoch);
    report.set_global_step(trainer->global_step());
    ToProto(window, report.mutable_consumed());
    report.set_loss(loss);
    v1::WindowAck ack;
    // The coordinator may be restarting: retry a few times, then go on (any other rank's
    // report of the same window counts too).
    for (int attempt = 0; attempt < 20; ++attempt) {
      auto context = Context(5);
      grpc::Status status = stub->ReportWindow(context.get(), report, &ack);
      if (status.ok() || !Retryable(status)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }

  void ReportCheckpoint(int64_t generation_id, const std::string& path, int epoch,
                        bool epoch_end, const EvalResult* eval) {
    v1::CheckpointReport report;
    report.set_worker_id(worker_id);
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
      for (double v : eval->precision) m->add_precision(v);
      for (double v : eval->recall) m->add_recall(v);
      for (double v : eval->f1) m->add_f1(v);
      m->set_examples(eval->examples);
    }
    v1::CheckpointAck ack;
    for (int attempt = 0; attempt < 20; ++attempt) {
      auto context = Context(5);
      grpc::Status status = stub->ReportCheckpoint(context.get(), report, &ack);
      if (status.ok() || !Retryable(status)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
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
        std::fprintf(stderr, "[eval] epoch %d step %lld: loss %.4f masked-token accuracy %.4f "
                     "(%lld texts)\n",
                     epoch, static_cast<long long>(trainer->global_step()), eval.loss,
                     eval.accuracy, static_cast<long long>(eval.examples));
      } else if (comm.rank() == 0) {
        std::fprintf(stderr,
                     "[eval] epoch %d step %lld: loss %.4f accuracy %.4f f1 neg %.4f pos %.4f "
                     "(%lld examples)\n",
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
  // drain, job end); UNAVAILABLE when a collective failed (regroup).
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
    data::PositionSet remaining = FromProto(assignment.plan().remaining());
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
      auto result = trainer->Step(comm, micro, static_cast<int64_t>(window.size()));
      if (!result.ok()) return result.status();
      // Wall time from the previous step's end: the stop-flag agreement, batch assembly and
      // reporting count too, so the throughput is what the job really delivers.
      auto now = Clock::now();
      double seconds = std::chrono::duration<double>(now - last_step_end).count();
      last_step_end = now;
      remaining = remaining.Subtract(window);
      ReportWindow(gen, epoch, window, result->loss);
      ++steps_this_process;
      last_loss = result->loss;
      if (steps_this_process > options.warmup_steps) {
        timed_samples += static_cast<int64_t>(window.size());
        timed_seconds += seconds;
      }
      {
        absl::MutexLock lock(&mu);
        progress.set_global_step(trainer->global_step());
        progress.set_epoch(epoch);
        progress.set_loss(result->loss);
        // This rank's share: the coordinator adds the workers' rates up.
        progress.set_samples_per_second(static_cast<double>(share.size()) / seconds);
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
        const double rate = static_cast<double>(window.size()) / seconds;
        const double eta = static_cast<double>(total - trainer->global_step()) * seconds;
        std::fprintf(stderr,
                     "[train] gen %lld world %d epoch %d step %lld/%lld loss %.4f "
                     "samples/s %.1f allreduce %.0f ms eta %.0f s\n",
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
    v1::LeaveRequest leave;
    leave.set_worker_id(worker_id);
    leave.set_reason(status.ok() ? "done" : std::string(status.message()));
    v1::LeaveResponse left;
    auto context = Context(5);
    stub->Leave(context.get(), leave, &left);
    return status;
  }

  // The collective group of one generation: Gloo over TCP (CPU tensors), or NCCL (the model on
  // this worker's GPU).
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

  absl::Status RunJoined() {
    // Refused before any work, rather than failing to form every generation's group.
    if (spec.backend() != kBuildBackend) return absl::FailedPreconditionError(kWrongBuildMessage);
    if (auto s = PrepareData(); !s.ok()) return s;
    if (auto s = CreateTrainer(); !s.ok()) return s;
    auto store = c10::make_intrusive<CoordinatorStore>(
        channel, std::chrono::milliseconds(spec.collective_timeout_ms()));
    int64_t last_generation = 0;
    while (true) {
      // The group may have stopped because of another rank's news: learn whether this worker
      // was drained before asking to join the next generation.
      HeartbeatOnce();
      {
        absl::MutexLock lock(&mu);
        if (drain) return absl::OkStatus();
      }
      auto assignment = Rendezvous(last_generation);
      if (!assignment.ok()) return assignment.status();
      if (assignment->job_finished()) {
        WriteSummary();
        return absl::OkStatus();
      }
      {
        absl::MutexLock lock(&mu);
        generation = assignment->generation();
        announced_generation = std::max(announced_generation, generation);
        finished = false;
      }
      last_generation = assignment->generation();
      auto comm = FormGroup(store, *assignment);
      if (!comm.ok()) {
        std::fprintf(stderr, "[worker %s] generation %lld: %s; regrouping\n",
                     options.name.c_str(), static_cast<long long>(last_generation),
                     std::string(comm.status().message()).c_str());
        continue;
      }
      std::fprintf(stderr, "[worker %s] generation %lld: rank %d of %d, step %lld, epoch %d\n",
                   options.name.c_str(), static_cast<long long>(last_generation),
                   assignment->rank(), assignment->world_size(),
                   static_cast<long long>(assignment->global_step()),
                   assignment->plan().epoch());
      absl::Status synced = absl::OkStatus();
      if (assignment->state_source_rank() >= 0) {
        if (assignment->world_size() > 1) {
          synced = trainer->BroadcastState(**comm, assignment->state_source_rank());
        }
      } else if (!assignment->resume_checkpoint().empty()) {
        // Rank 0 reads the checkpoint and hands it on, so only one host needs the files.
        if ((*comm)->rank() == 0) synced = trainer->LoadCheckpoint(assignment->resume_checkpoint());
        if (synced.ok() && assignment->world_size() > 1) synced = trainer->BroadcastState(**comm, 0);
      }
      if (!synced.ok()) {
        std::fprintf(stderr, "[worker %s] state sync failed: %s; regrouping\n",
                     options.name.c_str(), std::string(synced.message()).c_str());
        continue;
      }
      absl::Status trained = TrainGeneration(*assignment, **comm);
      if (!trained.ok()) {
        if (trained.code() != absl::StatusCode::kUnavailable) return trained;
        std::fprintf(stderr, "[worker %s] generation %lld ended: %s; regrouping\n",
                     options.name.c_str(), static_cast<long long>(last_generation),
                     std::string(trained.message()).c_str());
      }
      if ((*comm)->rank() == 0) WriteSummary();
    }
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
    ElasticWorkerOptions options) {
  if (options.coordinator.empty()) return absl::InvalidArgumentError("coordinator is required");
  if (options.name.empty()) options.name = DefaultName();
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  impl->channel = grpc::CreateCustomChannel(impl->options.coordinator,
                                            grpc::InsecureChannelCredentials(), args);
  impl->stub = v1::WorkerCoordination::NewStub(impl->channel);
  auto metrics = WorkerMetrics::Create(impl->options.host, impl->options.metrics_port);
  if (!metrics.ok()) return metrics.status();
  impl->metrics = *std::move(metrics);
  if (impl->metrics->port() >= 0) {
    std::fprintf(stderr, "[worker %s] metrics on port %d\n", impl->options.name.c_str(),
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
