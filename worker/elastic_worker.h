// The worker process's life: join the coordinator, build the token cache, then repeatedly
// rendezvous into a generation, form the collective group, take the current state from the
// generation's source rank, and train the generation's share of the epoch until the job ends,
// the worker is drained, or the membership changes (then regroup without restarting).
//
// Step boundaries are agreed, not guessed: before every optimizer step the ranks all-reduce a
// stop flag (MAX), set by the heartbeat thread when the coordinator announces a new generation
// or a drain. So all ranks stop after the same step. A dead peer surfaces as a failed
// collective: at once when the coordinator declares it dead (its heartbeats then say
// abort_collectives, and the group is aborted), at the latest after the collective timeout.
//
// Optimizer step k of a generation trains the window remaining.Prefix(W*B*A) of the epoch plan;
// rank r takes the r-th even share, split into A micro-batches. Every rank reports each applied
// window to the coordinator (which de-duplicates), so the sample accounting survives the death of
// any rank.
//
// The coordinator may be away (restarting, partitioned off) without stopping training: reports
// wait in a buffer (coordinator_client.h) and are delivered in order when it is back, before the
// next Rendezvous. After the spec's coordinator_outage_ms without an answer the group stops at a
// step boundary and waits for it. A worker the coordinator declared dead (a partition, a long
// pause) discards its state and joins again as a new worker; it exits only when the job is
// finished, when drained, or on an error no retry can fix.
//
// Owns its coordinator client, trainer, metrics and threads. Run() is called once, from one
// thread.
#ifndef MURMUR_WORKER_ELASTIC_WORKER_H_
#define MURMUR_WORKER_ELASTIC_WORKER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/coordinator.pb.h"
#include "worker/coordinator_client.h"

namespace murmur::worker {

class Communicator;  // worker/communicator.h (kept out of this header: it pulls in ATen)

struct ElasticWorkerOptions {
  // Coordinator address, host:port. Required.
  std::string coordinator;
  // Name shown in the job status. Default "<hostname>/pid-<pid>".
  std::string name;
  // Address the collective backend binds to and peers reach. Default 127.0.0.1.
  std::string host = "127.0.0.1";
  // Where the token cache is built (or found fresh). Default "<checkpoint_dir>/../cache".
  std::string cache_dir;
  // Intra-op threads (0: the spec's threads_per_worker, else all cores). Default 0.
  int threads = 0;
  // CUDA device of this worker when the job's backend is nccl (one GPU per worker). Default 0.
  int cuda_device = 0;
  // Print a progress line every this many seconds (rank 0 only; 0: never). Default 5.
  double progress_seconds = 5;
  // When set, rank 0 writes a JSON summary (samples/s of the timed steps, steps, loss) here at
  // the end of the job. Default none.
  std::string summary_path;
  // Steps excluded from the timed throughput (warm-up). Default 3.
  int warmup_steps = 3;
  // Give up joining after this long without reaching the coordinator. Default 120 s.
  double join_timeout_seconds = 120;
  // Prometheus /metrics port on `host` (0: a free one, logged as "metrics on port N"; -1: off).
  // Default -1.
  int metrics_port = -1;
  // Test-only record of what the model trained: when set, every rank appends one line per
  // optimizer step to "<trace_dir>/<name>-<pid>.trace" before taking it (generation, rank,
  // world, step, epoch, the token-cache rows of its share); tests/lineage_check.h reads them.
  // Default none.
  std::string trace_dir;
};

// What ElasticWorker talks to. Both default to the real ones (gRPC to options.coordinator; Gloo,
// or NCCL in the CUDA build, rendezvousing through the coordinator's store); unit tests pass an
// in-process coordinator and FakeCollectiveHub groups.
struct ElasticWorkerDependencies {
  std::unique_ptr<CoordinatorClient> coordinator;
  // Forms the collective group of a generation (rank, world and store prefix from it).
  std::function<absl::StatusOr<std::unique_ptr<Communicator>>(const v1::RendezvousResponse&)>
      form_group;
};

class ElasticWorker {
 public:
  static absl::StatusOr<std::unique_ptr<ElasticWorker>> Create(
      ElasticWorkerOptions options, ElasticWorkerDependencies dependencies = {});
  ~ElasticWorker();

  // Runs until the job finishes (OK), the worker is drained (OK), or an unrecoverable error.
  absl::Status Run();

  // Leave as if drained: the group stops at the next step boundary (the others regroup without
  // this worker) and Run returns OK. Thread-safe; for SIGTERM handlers' threads.
  void RequestStop();

 private:
  struct Impl;
  explicit ElasticWorker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_ELASTIC_WORKER_H_
