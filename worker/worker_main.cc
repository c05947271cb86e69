// murmur-worker: one data-parallel training worker. Joins the coordinator and trains until the
// job ends or the worker is drained. SIGTERM leaves at the next step boundary and exits 0; a
// worker the coordinator declared dead joins again instead of exiting.
#include <thread>

#include "base/flags.h"
#include "base/logging.h"
#include "base/shutdown_signal.h"
#include "worker/elastic_worker.h"

int main(int argc, char** argv) {
  murmur::SetLogProgram("murmur-worker");
  if (auto installed = murmur::InstallShutdownSignalHandler(); !installed.ok()) {
    murmur::LogLine(installed.message());
    return 1;
  }
  murmur::FlagParser flags("murmur-worker");
  murmur::worker::ElasticWorkerOptions options;
  flags.String("coordinator", &options.coordinator, "coordinator host:port", /*required=*/true);
  flags.String("name", &options.name, "name in the job status (default host/pid)");
  flags.String("host", &options.host, "address peers reach this worker at");
  flags.String("cache-dir", &options.cache_dir, "where to build or find the token cache");
  flags.Int("threads", &options.threads, "intra-op threads (0: spec or all cores)");
  flags.Int("cuda-device", &options.cuda_device,
            "GPU of this worker for a job with backend nccl (CUDA builds only)");
  flags.Double("progress-seconds", &options.progress_seconds, "progress line interval");
  flags.String("summary", &options.summary_path, "write a JSON throughput summary here");
  flags.Int("warmup-steps", &options.warmup_steps, "steps left out of the timed throughput");
  flags.Int("metrics-port", &options.metrics_port,
            "Prometheus /metrics port on --host (0: pick one; -1: off)");
  flags.String("trace-dir", &options.trace_dir,
               "tests: record the rows of every step taken here (tests/lineage_check.h)");
  flags.ParseOrExit(argc, argv);
  auto worker = murmur::worker::ElasticWorker::Create(options);
  if (!worker.ok()) {
    murmur::LogLine(worker.status().message());
    return 2;
  }
  // SIGTERM/SIGINT: leave at the next step boundary (the group regroups without this worker)
  // instead of dying mid-step.
  murmur::worker::ElasticWorker* running = worker->get();
  std::thread watcher([running] {
    if (murmur::WaitForShutdownSignal() == 0) return;  // woken: the worker is done
    murmur::LogLine("stop requested: leaving at the next step boundary");
    running->RequestStop();
  });
  absl::Status status = running->Run();
  murmur::WakeShutdownWaiter();
  watcher.join();
  if (!status.ok()) {
    murmur::LogLine(status.message());
    return 1;
  }
  return 0;
}
