// Operator commands for a running training job, talking to the coordinator's JobControl API:
//   murmur status --coordinator HOST:PORT [--json]
//   murmur watch  --coordinator HOST:PORT [--after N] [--until KIND]
//   murmur scale  --coordinator HOST:PORT [--min N] [--max N]
//   murmur drain  --coordinator HOST:PORT --worker ID
#include <grpcpp/grpcpp.h>

#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/flags.h"
#include "client/commands.h"
#include "client/job_format.h"
#include "proto/coordinator.grpc.pb.h"
#include "proto/job_json.h"
#include "proto/job_state_names.h"

namespace murmur::client {
namespace {

constexpr absl::Duration kCallTimeout = absl::Seconds(10);

std::unique_ptr<v1::JobControl::Stub> Connect(const std::string& coordinator) {
  return v1::JobControl::NewStub(
      grpc::CreateChannel(coordinator, grpc::InsecureChannelCredentials()));
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + kCallTimeout));
}

int Fail(const std::string& command, const std::string& coordinator, const grpc::Status& status) {
  std::cerr << "murmur " << command << ": " << coordinator << ": "
            << (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                    ? "cannot reach the coordinator: "
                    : "")
            << status.error_message() << "\n";
  return 1;
}

std::string FormatTime(double unix_seconds) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S", absl::FromUnixMicros(static_cast<int64_t>(
                                                     unix_seconds * 1e6)),
                          absl::UTCTimeZone());
}

std::string FormatWorkers(const v1::JobStatus& status) {
  std::string out = absl::StrFormat("%-8s %-8s %5s %9s %10s %9s  %s\n", "WORKER", "STATE", "RANK",
                                    "STEP", "SAMPLES/S", "SILENT_S", "NAME (HOST)");
  for (const v1::WorkerStatus& worker : status.workers()) {
    absl::StrAppendFormat(&out, "%-8s %-8s %5s %9d %10.1f %9.1f  %s (%s)\n", worker.worker_id(),
                          StateName(worker.state()),
                          worker.rank() >= 0 ? absl::StrCat(worker.rank()) : "-",
                          worker.global_step(), worker.samples_per_second(),
                          worker.seconds_since_heartbeat(), worker.name(), worker.host());
  }
  return out;
}

}  // namespace

int StatusCommand(const CommandArgs& args) {
  FlagParser flags("murmur status");
  std::string coordinator;
  bool json = false;
  flags.String("coordinator", &coordinator, "coordinator address HOST:PORT", /*required=*/true);
  flags.Bool("json", &json, "print the whole JobStatus as JSON");
  if (auto exit_code = flags.ParseOrExitCode(args)) return *exit_code;
  auto stub = Connect(coordinator);
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::JobStatus status;
  grpc::Status result = stub->GetStatus(&context, v1::GetStatusRequest(), &status);
  if (!result.ok()) return Fail("status", coordinator, result);
  if (json) {
    std::cout << OperatorJson(status, /*pretty=*/true);
    return 0;
  }
  std::cout << FormatProgress(status) << "\n";
  if (!status.message().empty()) std::cout << status.message() << "\n";
  std::cout << absl::StrFormat("workers: min %d, max %d; samples: %d train, %d validation\n",
                               status.min_workers(), status.max_workers(),
                               status.train_samples(), status.validation_samples())
            << FormatWorkers(status) << FormatFinalReport(status);
  return 0;
}

int WatchCommand(const CommandArgs& args) {
  FlagParser flags("murmur watch");
  std::string coordinator, until;
  int64_t after = 0;
  flags.String("coordinator", &coordinator, "coordinator address HOST:PORT", /*required=*/true);
  flags.Int("after", &after, "replay events after this index (0: all)");
  flags.String("until", &until, "exit after an event of this kind (e.g. finished)");
  if (auto exit_code = flags.ParseOrExitCode(args)) return *exit_code;
  auto stub = Connect(coordinator);
  grpc::ClientContext context;  // no deadline: follows until the job's coordinator goes away
  v1::WatchEventsRequest request;
  request.set_after(after);
  auto reader = stub->WatchEvents(&context, request);
  v1::JobEvent event;
  int64_t index = after;
  while (reader->Read(&event)) {
    ++index;
    std::cout << absl::StrFormat("%5d %s %-14s gen %-3d step %-7d %s\n", index,
                                 FormatTime(event.time_unix()), event.kind(), event.generation(),
                                 event.global_step(), event.detail())
              << std::flush;
    if (!until.empty() && event.kind() == until) {
      context.TryCancel();
      reader->Finish();
      return 0;
    }
  }
  grpc::Status result = reader->Finish();
  if (!result.ok()) return Fail("watch", coordinator, result);
  return 0;
}

int ScaleCommand(const CommandArgs& args) {
  FlagParser flags("murmur scale");
  std::string coordinator;
  int min_workers = 0, max_workers = 0;
  flags.String("coordinator", &coordinator, "coordinator address HOST:PORT", /*required=*/true);
  flags.Int("min", &min_workers, "the job pauses below this many workers (0: unchanged)");
  flags.Int("max", &max_workers, "workers beyond this many wait as standbys (0: unchanged)");
  if (auto exit_code = flags.ParseOrExitCode(args)) return *exit_code;
  if (min_workers == 0 && max_workers == 0) {
    std::cerr << "murmur scale: give --min and/or --max\n" << flags.Usage();
    return 2;
  }
  auto stub = Connect(coordinator);
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::SetWorkerLimitsRequest request;
  request.set_min_workers(min_workers);
  request.set_max_workers(max_workers);
  v1::JobStatus status;
  grpc::Status result = stub->SetWorkerLimits(&context, request, &status);
  if (!result.ok()) return Fail("scale", coordinator, result);
  std::cout << absl::StrFormat("min_workers %d, max_workers %d (generation %d)\n",
                               status.min_workers(), status.max_workers(), status.generation());
  return 0;
}

int DrainCommand(const CommandArgs& args) {
  FlagParser flags("murmur drain");
  std::string coordinator, worker;
  flags.String("coordinator", &coordinator, "coordinator address HOST:PORT", /*required=*/true);
  flags.String("worker", &worker, "worker id (see murmur status)", /*required=*/true);
  if (auto exit_code = flags.ParseOrExitCode(args)) return *exit_code;
  auto stub = Connect(coordinator);
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::DrainWorkerRequest request;
  request.set_worker_id(worker);
  v1::DrainWorkerResponse response;
  grpc::Status result = stub->DrainWorker(&context, request, &response);
  if (!result.ok()) return Fail("drain", coordinator, result);
  std::cout << "draining " << worker << ": it finishes its step and leaves\n";
  return 0;
}

}  // namespace murmur::client
