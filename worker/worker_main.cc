// murmur-worker: one data-parallel training worker. Joins the coordinator and trains until the
// job ends or the worker is drained. SIGTERM leaves at the next step boundary and exits 0; a
// worker the coordinator declared dead joins again instead of exiting.
#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>
#include <cstdio>
#include <string>
#include <vector>

#include "base/flags.h"
#include "worker/elastic_worker.h"

namespace {
std::atomic<bool> stop_requested{false};
}  // namespace

int main(int argc, char** argv) {
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
  absl::Status parsed = flags.Parse(std::vector<std::string>(argv + 1, argv + argc));
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", std::string(parsed.message()).c_str());
    return 2;
  }
  // SIGTERM/SIGINT: leave at the next step boundary (the group regroups without this worker)
  // instead of dying mid-step. A handler, not sigwait: libtorch starts threads before main,
  // so no signal mask set here would cover every thread.
  struct sigaction action = {};
  action.sa_handler = [](int) { stop_requested = true; };
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  auto worker = murmur::worker::ElasticWorker::Create(options);
  if (!worker.ok()) {
    std::fprintf(stderr, "murmur-worker: %s\n", std::string(worker.status().message()).c_str());
    return 2;
  }
  murmur::worker::ElasticWorker* running = worker->get();
  std::thread([running] {
    while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::fprintf(stderr, "murmur-worker: stop requested: leaving at the next step boundary\n");
    running->RequestStop();
  }).detach();
  absl::Status status = (*worker)->Run();
  if (!status.ok()) {
    std::fprintf(stderr, "murmur-worker: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
