#include "coordinator/server.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/metrics_http_server.h"
#include "coordinator/checkpoint_janitor.h"
#include "coordinator/job_spec.h"
#include "coordinator/tensorboard/tensorboard_curves.h"
#include "data/ingest.h"
#include "proto/job_conversions.h"
#include "text/tokenizer.h"

namespace murmur::coordinator {

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Create(Options options) {
  if (options.spec_path.empty()) return absl::InvalidArgumentError("--spec is required");
  if (options.journal_dir.empty()) return absl::InvalidArgumentError("--journal-dir is required");
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port out of range: ", options.port));
  }
  auto spec = LoadJobSpec(options.spec_path, options.journal_dir);
  if (!spec.ok()) return spec.status();
  if (auto status = MakeDirectories(options.journal_dir + "/cache"); !status.ok()) return status;

  // The split sizes: the same ingest the workers run, so both sides agree on N_train.
  auto tokenizer = text::Tokenizer::FromVocabFile(spec->vocab_path());
  if (!tokenizer.ok()) {
    return absl::Status(tokenizer.status().code(),
                        absl::StrCat("job spec vocab_path: ", tokenizer.status().message()));
  }
  data::IngestOptions ingest_options = IngestOptionsFor(*spec);
  ingest_options.num_threads = options.ingest_threads;
  auto report = data::Ingest(spec->corpus_path(), **tokenizer,
                             options.journal_dir + "/cache/tokens.cache", ingest_options);
  if (!report.ok()) {
    return absl::Status(report.status().code(),
                        absl::StrCat("job spec corpus_path: ", report.status().message()));
  }

  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer(std::move(options)));
  const Options& opts = server->options_;
  Job::Options job_options;
  job_options.spec = *spec;
  job_options.train_samples = report->train_rows;
  job_options.validation_samples = report->validation_rows;
  job_options.journal_dir = opts.journal_dir;
  job_options.clock = opts.clock;
  job_options.store = &server->store_;
  if (opts.join_settle) job_options.join_settle = *opts.join_settle;
  job_options.rendezvous_settle = opts.rendezvous_settle;
  if (opts.rendezvous_poll) job_options.rendezvous_poll = *opts.rendezvous_poll;
  std::vector<TrainingCurveSink*> sinks = {&server->step_history_};
  if (spec->report_to() == "tensorboard") {
    // What an earlier process of this job wrote first, so the dashboard's curves start at step 1
    // after a restart.
    const std::string run_dir = opts.journal_dir + "/tensorboard";
    for (const StepPoint& point : tensorboard::ReadStepCurves(run_dir)) {
      server->step_history_.RecordStep(point);
    }
    auto curves = tensorboard::TensorBoardCurves::Create(run_dir);
    if (!curves.ok()) return curves.status();
    server->tensorboard_curves_ = *std::move(curves);
    sinks.push_back(server->tensorboard_curves_.get());
  }
  server->curves_ = std::make_unique<TrainingCurveFanOut>(std::move(sinks));
  job_options.curves = server->curves_.get();
  auto job = Job::Create(std::move(job_options));
  if (!job.ok()) return job.status();
  server->job_ = *std::move(job);

  server->worker_service_ =
      std::make_unique<WorkerCoordinationService>(server->job_.get(), &server->store_);
  Publisher::Options publisher_options;
  publisher_options.auto_targets = opts.publish_targets;
  publisher_options.run_background = opts.run_background_loop;
  server->publisher_ = std::make_unique<Publisher>(server->job_.get(), publisher_options,
                                                   CreateGrpcCheckpointPusher(opts.serving_token));
  server->control_service_ =
      std::make_unique<JobControlService>(server->job_.get(), server->publisher_.get());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat(opts.bind_host, ":", opts.port),
                           grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->worker_service_.get());
  builder.RegisterService(server->control_service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", opts.bind_host, ":", opts.port));
  }
  if (opts.metrics_port >= 0) {
    const Job* job = server->job_.get();
    auto metrics = StartMetricsHttpServer(opts.bind_host, opts.metrics_port,
                                          [job] { return JobMetricsText(*job); });
    if (!metrics.ok()) return metrics.status();
    server->metrics_http_ = *std::move(metrics);
  }
  if (opts.http_port >= 0) {
    Dashboard::Options dashboard;
    dashboard.host = opts.bind_host;
    dashboard.port = opts.http_port;
    auto started = Dashboard::Start(dashboard, server->job_.get(), &server->step_history_);
    if (!started.ok()) return started.status();
    server->dashboard_ = *std::move(started);
    // Before DIR/port: a launcher that waited for that file finds this one too.
    if (auto status = WriteFileAtomically(opts.journal_dir + "/http_port",
                                          absl::StrCat(server->dashboard_->port(), "\n"));
        !status.ok()) {
      return status;
    }
  }
  if (auto status = WriteFileAtomically(opts.journal_dir + "/port", absl::StrCat(server->port_, "\n"));
      !status.ok()) {
    return status;
  }
  if (opts.run_background_loop) {
    CoordinatorServer* self = server.get();
    server->loop_ = std::thread([self] { self->Loop(); });
  }
  return server;
}

CoordinatorServer::~CoordinatorServer() { Shutdown(); }

void CoordinatorServer::Loop() {
  CheckpointJanitor janitor(job_.get(), job_->spec().checkpoint_dir());
  while (!stop_loop_.WaitForNotificationWithTimeout(options_.tick_interval)) {
    job_->Tick();
    janitor.RunOnce();
  }
}

void CoordinatorServer::Shutdown() {
  {
    absl::MutexLock lock(&shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  // Wake the long waits first, so the server's shutdown does not wait for them.
  if (job_ != nullptr) job_->Shutdown();
  store_.Shutdown();
  stop_loop_.Notify();
  if (loop_.joinable()) loop_.join();
  // The best checkpoint may have arrived after the publisher's last look: publish it before
  // going away, so a finished job always leaves serving on its best model.
  if (publisher_ != nullptr) publisher_->PollOnce();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  dashboard_.reset();
  metrics_http_.reset();
  publisher_.reset();
  done_.Notify();
}

void CoordinatorServer::Wait() { done_.WaitForNotification(); }

}  // namespace murmur::coordinator
