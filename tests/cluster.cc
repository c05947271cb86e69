#include "tests/cluster.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/file.h"
#include "base/test_util.h"
#include "worker/coordinator_client.h"

namespace murmur::testing {
namespace {

std::string Tail(const std::string& path, size_t bytes = 3000) {
  auto contents = ReadFile(path);
  if (!contents.ok()) return "(no log)";
  return contents->size() > bytes ? contents->substr(contents->size() - bytes) : *contents;
}

// The port `process` wrote to `path`, with the tail of its log when it did not.
absl::StatusOr<int> WaitForPort(Subprocess& process, const std::string& path,
                                const std::string& log, double timeout_seconds) {
  auto port = WaitForPortFile(process, path, absl::Seconds(timeout_seconds));
  if (!port.ok()) {
    return absl::Status(port.status().code(),
                        absl::StrCat(port.status().message(), ":\n", Tail(log)));
  }
  return port;
}

}  // namespace

std::string WriteTweetCorpus(const std::string& dir, int per_class) {
  EXPECT_TRUE(MakeDirectories(dir).ok());
  for (const char* name : {"negative.txt", "positive.txt"}) {
    std::ifstream in(SharedDataPath(std::string("sentiment140_text_100k/") + name));
    std::string line, out;
    for (int i = 0; i < per_class && std::getline(in, line); ++i) out += line + "\n";
    EXPECT_TRUE(WriteFileAtomically(dir + "/" + name, out).ok());
  }
  return dir;
}

void ExpectExactlyOncePerEpoch(const v1::JobStatus& status, int epochs) {
  ASSERT_EQ(status.accounting_size(), epochs) << status.ShortDebugString();
  for (const auto& epoch : status.accounting()) {
    EXPECT_TRUE(epoch.complete()) << epoch.ShortDebugString();
    EXPECT_EQ(epoch.consumed(), epoch.samples()) << epoch.ShortDebugString();
    EXPECT_EQ(epoch.duplicated(), 0) << epoch.ShortDebugString();
    EXPECT_EQ(epoch.samples(), status.train_samples());
  }
}

Cluster::Cluster(std::string name, const std::string& corpus_dir, const std::string& spec_fields)
    : dir_(TempDir() + "/" + name) {
  EXPECT_TRUE(MakeDirectories(dir_ + "/logs").ok());
  spec_path_ = dir_ + "/job.json";
  std::string spec = absl::StrCat("{\"corpus_path\": \"", corpus_dir, "\", \"vocab_path\": \"",
                                  SharedDataPath("distilbert-base-uncased/vocab.txt"), "\", ",
                                  spec_fields, "}");
  EXPECT_TRUE(WriteFileAtomically(spec_path_, spec).ok());
}

Cluster::~Cluster() {
  for (auto& [name, worker] : workers_) worker->Stop(std::chrono::seconds(5));
  if (coordinator_) coordinator_->Stop(std::chrono::seconds(5));
  if (serving_) serving_->Stop(std::chrono::seconds(5));
}

absl::Status Cluster::StartCoordinator(const std::vector<std::string>& extra_flags) {
  coordinator_flags_ = extra_flags;
  std::remove((dir_ + "/port").c_str());
  std::vector<std::string> argv = {"coordinator/murmur-coordinator", "--spec", spec_path_,
                                   "--journal-dir", dir_, "--port", absl::StrCat(port_)};
  if (network_ != nullptr) {
    argv[0] = AbsolutePath(argv[0]);
    argv.insert(argv.end(), {"--host", "0.0.0.0"});
  }
  if (metrics_) argv.insert(argv.end(), {"--metrics-port", "0"});
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  if (network_ != nullptr) argv = network_->Wrap(0, std::move(argv));
  auto started = Subprocess::Start(argv, dir_ + "/logs/coordinator.log");
  if (!started.ok()) return started.status();
  coordinator_ = *std::move(started);
  // The coordinator writes DIR/port once its server listens.
  auto port = WaitForPort(*coordinator_, dir_ + "/port", dir_ + "/logs/coordinator.log", 120);
  if (!port.ok()) return port.status();
  port_ = *port;
  address_ = absl::StrCat(network_ != nullptr ? network_->address(0) : "127.0.0.1", ":", port_);
  control_ =
      // Bounded reconnect backoff, as the workers have: after a restart the test sees the
      // coordinator as soon as they do (gRPC's default backoff grows to minutes).
      v1::JobControl::NewStub(worker::CreateCoordinatorChannel(address_));
  return absl::OkStatus();
}

void Cluster::KillCoordinator() {
  if (coordinator_) {
    coordinator_->Signal(SIGKILL);
    coordinator_->Wait();
  }
}

absl::Status Cluster::RestartCoordinator(double down_seconds) {
  KillCoordinator();
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(down_seconds * 1000)));
  return StartCoordinator(coordinator_flags_);
}

absl::Status Cluster::EnableTrace() {
  if (auto made = MakeDirectories(trace_dir()); !made.ok()) return made;
  trace_ = true;
  return absl::OkStatus();
}

absl::Status Cluster::AddWorker(const std::string& name, int host,
                                const std::vector<std::string>& extra_flags) {
  if (network_ == nullptr && host != -1) {
    return absl::InvalidArgumentError(absl::StrCat("worker ", name, ": host ", host,
                                                   " without a network (UseNetwork)"));
  }
  if (network_ != nullptr && (host < 0 || host >= network_->num_hosts())) {
    return absl::InvalidArgumentError(absl::StrCat("worker ", name, ": host ", host,
                                                   " is not one of the ", network_->num_hosts(),
                                                   " hosts"));
  }
  std::vector<std::string> argv = {
      "worker/murmur-worker", "--coordinator", address_, "--name", name, "--cache-dir",
      dir_ + "/cache-" + name, "--threads", "1", "--progress-seconds", "1", "--summary",
      dir_ + "/summary-" + name + ".json", "--metrics-port", metrics_ ? "0" : "-1"};
  if (network_ != nullptr) {
    argv[0] = AbsolutePath(argv[0]);
    argv.insert(argv.end(), {"--host", network_->address(host)});
  }
  if (trace_) argv.insert(argv.end(), {"--trace-dir", trace_dir()});
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  if (network_ != nullptr) argv = network_->Wrap(host, std::move(argv));
  if (auto old = workers_.find(name); old != workers_.end()) {
    old->second->Stop(std::chrono::seconds(5));
  }
  auto started = Subprocess::Start(argv, dir_ + "/logs/" + name + ".log");
  if (!started.ok()) return started.status();
  workers_[name] = *std::move(started);
  worker_hosts_[name] = host;
  return absl::OkStatus();
}

absl::Status Cluster::StartServing() {
  const std::string repository = dir_ + "/serving-models";
  if (auto made = MakeDirectories(repository); !made.ok()) return made;
  const std::string port_file = dir_ + "/serving.port";
  std::remove(port_file.c_str());
  auto started = Subprocess::Start(
      {"serving/murmur-serve", "--model-repository", repository, "--host", "127.0.0.1", "--port",
       "0", "--port-file", port_file, "--metrics-port", metrics_ ? "0" : "-1", "--threads", "1",
       // The tests compare serving's probabilities with murmur predict's: the same precision.
       "--precision", "fp32", "--http-port", "0"},
      dir_ + "/logs/serving.log");
  if (!started.ok()) return started.status();
  serving_ = *std::move(started);
  auto port = WaitForPort(*serving_, port_file, dir_ + "/logs/serving.log", 60);
  if (!port.ok()) return port.status();
  serving_address_ = absl::StrCat("127.0.0.1:", *port);
  return absl::OkStatus();
}

absl::StatusOr<int> Cluster::MetricsPort(const std::string& process, double timeout_seconds) {
  // Each program announces its metrics port in its own words.
  std::string marker = "] metrics on port ";  // "[worker NAME] metrics on port N"
  if (process == "coordinator") marker = "metrics on http://127.0.0.1:";
  if (process == "serving") marker = ", metrics on :";  // "serving on H:P, metrics on :N"
  const std::string log = dir_ + "/logs/" + process + ".log";
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    auto contents = ReadFile(log);
    // The last announcement: a restarted process appends to its log.
    size_t at = contents.ok() ? contents->rfind(marker) : std::string::npos;
    if (at != std::string::npos) {
      at += marker.size();
      size_t end = at;
      while (end < contents->size() && std::isdigit((*contents)[end])) ++end;
      if (end > at) return std::stoi(contents->substr(at, end - at));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(process, " logged no metrics port (\"", marker, "\"):\n", Tail(log)));
}

void Cluster::KillWorker(const std::string& name) {
  workers_.at(name)->Signal(SIGKILL);
  workers_.at(name)->Wait();
}

void Cluster::SignalWorker(const std::string& name, int signal) {
  workers_.at(name)->Signal(signal);
}

std::optional<int> Cluster::WorkerExit(const std::string& name) {
  return workers_.at(name)->Poll();
}

std::vector<std::string> Cluster::WorkerNames() const {
  std::vector<std::string> names;
  for (const auto& [name, worker] : workers_) names.push_back(name);
  return names;
}

std::vector<std::string> Cluster::RunningWorkers() {
  std::vector<std::string> names;
  for (auto& [name, worker] : workers_) {
    if (!worker->Poll().has_value()) names.push_back(name);
  }
  return names;
}

int Cluster::WorkerHost(const std::string& name) const { return worker_hosts_.at(name); }

absl::Status Cluster::PartitionWorker(const std::string& name) {
  if (network_ == nullptr) return absl::FailedPreconditionError("no network (UseNetwork)");
  return network_->Partition(worker_hosts_.at(name));
}

absl::Status Cluster::HealWorker(const std::string& name) {
  if (network_ == nullptr) return absl::FailedPreconditionError("no network (UseNetwork)");
  return network_->Heal(worker_hosts_.at(name));
}

absl::StatusOr<int64_t> Cluster::SummaryGlobalStep() const {
  int64_t best = -1;
  const std::string key = "\"global_step\": ";
  for (const auto& [name, worker] : workers_) {
    auto summary = ReadFile(dir_ + "/summary-" + name + ".json");
    if (!summary.ok()) continue;
    size_t at = summary->find(key);
    if (at == std::string::npos) continue;
    at += key.size();
    size_t end = at;
    while (end < summary->size() && std::isdigit((*summary)[end])) ++end;
    int64_t step = 0;
    if (absl::SimpleAtoi(summary->substr(at, end - at), &step)) best = std::max(best, step);
  }
  if (best < 0) return absl::NotFoundError("no worker wrote a summary with a global_step");
  return best;
}

absl::StatusOr<v1::JobStatus> Cluster::Status() {
  v1::JobStatus status;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  grpc::Status rpc = control_->GetStatus(&context, v1::GetStatusRequest(), &status);
  if (!rpc.ok()) return absl::UnavailableError(rpc.error_message());
  return status;
}

absl::StatusOr<v1::JobStatus> Cluster::WaitFor(
    const std::function<bool(const v1::JobStatus&)>& done, double timeout_seconds) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  absl::Status last = absl::DeadlineExceededError("timed out");
  while (std::chrono::steady_clock::now() < deadline) {
    auto status = Status();
    if (status.ok() && done(*status)) return status;
    if (status.ok()) {
      last = absl::DeadlineExceededError(absl::StrCat("timed out; last status: ",
                                                      status->ShortDebugString()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last;
}

absl::Status Cluster::Drain(const std::string& worker_id) {
  v1::DrainWorkerRequest request;
  request.set_worker_id(worker_id);
  v1::DrainWorkerResponse response;
  grpc::ClientContext context;
  grpc::Status rpc = control_->DrainWorker(&context, request, &response);
  if (!rpc.ok()) return absl::InternalError(rpc.error_message());
  return absl::OkStatus();
}

absl::StatusOr<v1::JobStatus> Cluster::WaitForWorkersToExit(double timeout_seconds) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  for (auto& [name, worker] : workers_) {
    while (!worker->Poll().has_value()) {
      if (std::chrono::steady_clock::now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat("worker ", name, " did not exit"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return Status();
}

std::vector<v1::JobEvent> Cluster::Events() {
  std::vector<v1::JobEvent> events;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  auto reader = control_->WatchEvents(&context, v1::WatchEventsRequest());
  v1::JobEvent event;
  // The stream follows live events; the deadline ends it after the replay.
  while (reader->Read(&event)) events.push_back(event);
  return events;
}

std::string Cluster::Logs() const {
  std::string out = absl::StrCat("--- coordinator.log\n", Tail(dir_ + "/logs/coordinator.log"));
  for (const auto& [name, worker] : workers_) {
    absl::StrAppend(&out, "\n--- ", name, ".log\n", Tail(dir_ + "/logs/" + name + ".log"));
  }
  if (serving_) absl::StrAppend(&out, "\n--- serving.log\n", Tail(dir_ + "/logs/serving.log"));
  return out;
}

}  // namespace murmur::testing
