#include "tests/cluster.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/file.h"
#include "base/test_util.h"

namespace murmur::testing {
namespace {

std::string Tail(const std::string& path, size_t bytes = 3000) {
  auto contents = ReadFile(path);
  if (!contents.ok()) return "(no log)";
  return contents->size() > bytes ? contents->substr(contents->size() - bytes) : *contents;
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
}

absl::Status Cluster::StartCoordinator() {
  std::remove((dir_ + "/port").c_str());
  auto started = Subprocess::Start(
      {"coordinator/murmur-coordinator", "--spec", spec_path_, "--journal-dir", dir_, "--port",
       absl::StrCat(port_)},
      dir_ + "/logs/coordinator.log");
  if (!started.ok()) return started.status();
  coordinator_ = *std::move(started);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto code = coordinator_->Poll()) {
      return absl::InternalError(absl::StrCat("coordinator exited with ", *code, ":\n",
                                              Tail(dir_ + "/logs/coordinator.log")));
    }
    auto contents = ReadFile(dir_ + "/port");
    if (contents.ok()) {
      // The file holds the port (a server listening on 127.0.0.1).
      std::string port(absl::StripAsciiWhitespace(*contents));
      if (!port.empty() && std::all_of(port.begin(), port.end(), ::isdigit)) {
        port_ = std::stoi(port);
        address_ = absl::StrCat("127.0.0.1:", port_);
        control_ = v1::JobControl::NewStub(
            grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
        return absl::OkStatus();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError("coordinator wrote no port file");
}

void Cluster::KillCoordinator() {
  if (coordinator_) {
    coordinator_->Signal(SIGKILL);
    coordinator_->Wait();
  }
}

absl::Status Cluster::AddWorker(const std::string& name) {
  auto started = Subprocess::Start(
      {"worker/murmur-worker", "--coordinator", address_, "--name", name, "--cache-dir",
       dir_ + "/cache-" + name, "--threads", "1", "--progress-seconds", "1", "--summary",
       dir_ + "/summary-" + name + ".json"},
      dir_ + "/logs/" + name + ".log");
  if (!started.ok()) return started.status();
  workers_[name] = *std::move(started);
  return absl::OkStatus();
}

void Cluster::KillWorker(const std::string& name) {
  workers_.at(name)->Signal(SIGKILL);
  workers_.at(name)->Wait();
}

std::optional<int> Cluster::WorkerExit(const std::string& name) {
  return workers_.at(name)->Poll();
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
  return out;
}

}  // namespace murmur::testing
