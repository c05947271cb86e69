// The coordinator over real gRPC on 127.0.0.1, with simulated workers (each a stub doing Join,
// Rendezvous, Heartbeat, ReportWindow the way a worker must) and a fake clock, so failure
// detection happens exactly when a test says.
#include "coordinator/server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/file.h"
#include "base/test_util.h"
#include "coordinator/clock.h"
#include "base/grpc_status.h"
#include "coordinator/ledger.h"
#include "coordinator/service.h"
#include "proto/coordinator.grpc.pb.h"

namespace murmur::coordinator {
namespace {

using data::PositionSet;

std::string FreshDir(const std::string& name) {
  const std::string dir = absl::StrCat(murmur::testing::TempDir(), "/", name, "-", getpid(), "-",
                                       absl::ToUnixNanos(absl::Now()));
  EXPECT_TRUE(MakeDirectories(dir).ok());
  return dir;
}

// A corpus of `per_class` real tweets per class, as negative.txt / positive.txt.
std::string MakeCorpus(const std::string& dir, int per_class) {
  const std::string corpus = dir + "/corpus";
  EXPECT_TRUE(MakeDirectories(corpus).ok());
  for (const char* name : {"negative.txt", "positive.txt"}) {
    std::ifstream in(murmur::testing::SharedDataPath(
        absl::StrCat("sentiment140_text_100k/", name)));
    std::ofstream out(corpus + "/" + name);
    std::string line;
    for (int i = 0; i < per_class && std::getline(in, line); ++i) out << line << "\n";
  }
  return corpus;
}

std::string WriteSpec(const std::string& dir, const std::string& extra_fields) {
  const std::string path = dir + "/job.json";
  const std::string json = absl::StrCat(
      R"({"corpus_path": ")", MakeCorpus(dir, 60), R"(", "vocab_path": ")",
      murmur::testing::SharedDataPath("distilbert-base-uncased/vocab.txt"), R"(")",
      extra_fields.empty() ? "" : ", ", extra_fields, "}");
  EXPECT_TRUE(WriteFileAtomically(path, json).ok());
  return path;
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(30)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

// A worker as the protocol asks it to behave, minus the training: it computes the window of
// each optimizer step from its plan exactly as proto/coordinator.proto says (step k of a
// generation reads positions [k*W*B*A, (k+1)*W*B*A) of `remaining`; later epochs start whole)
// and reports it.
class SimWorker {
 public:
  SimWorker(int port, std::string name)
      : stub_(v1::WorkerCoordination::NewStub(grpc::CreateChannel(
            absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()))),
        name_(std::move(name)) {}

  void Join() {
    v1::JoinRequest request;
    request.set_name(name_);
    request.set_host("127.0.0.1");
    v1::JoinResponse response;
    grpc::Status status = stub_->Join(Context().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    id_ = response.worker_id();
    spec_ = response.spec();
  }

  // Calls Rendezvous until it forms (re-calling on UNAVAILABLE, as a worker must).
  absl::Status Rendezvous() {
    for (int attempt = 0; attempt < 20; ++attempt) {
      v1::RendezvousRequest request;
      request.set_worker_id(id_);
      request.set_last_generation(generation_);
      request.set_global_step(has_state_ ? step_ : -1);
      v1::RendezvousResponse response;
      grpc::Status status = stub_->Rendezvous(Context(absl::Seconds(60)).get(), request,
                                              &response);
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE) continue;
      if (!status.ok()) return FromGrpcStatus(status);
      assignment_ = response;
      generation_ = response.generation();
      if (response.job_finished()) return absl::OkStatus();
      step_ = response.global_step();  // state taken from the source rank (or a checkpoint)
      has_state_ = true;
      epoch_ = response.plan().epoch();
      remaining_ = ToPositionSet(response.plan().remaining());
      step_in_generation_ = 0;
      return absl::OkStatus();
    }
    return absl::DeadlineExceededError("rendezvous never formed");
  }
  std::future<absl::Status> RendezvousAsync() {
    return std::async(std::launch::async, [this] { return Rendezvous(); });
  }

  absl::StatusOr<v1::HeartbeatResponse> Heartbeat() {
    v1::HeartbeatRequest request;
    request.set_worker_id(id_);
    request.set_generation(generation_);
    request.set_global_step(step_);
    request.set_epoch(epoch_);
    request.set_samples_per_second(50);
    v1::HeartbeatResponse response;
    grpc::Status status = stub_->Heartbeat(Context().get(), request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  // The window of the next optimizer step; empty when the job's epochs are done.
  PositionSet NextWindow() {
    const uint64_t per_step = static_cast<uint64_t>(assignment_.world_size()) *
                              spec_.batch_per_worker() * spec_.gradient_accumulation();
    PositionSet window = remaining_.Prefix((step_in_generation_ + 1) * per_step)
                             .Subtract(remaining_.Prefix(step_in_generation_ * per_step));
    if (window.empty() && epoch_ + 1 < spec_.epochs()) {
      ++epoch_;
      remaining_ = PositionSet::Range(0, train_samples_);
      step_in_generation_ = 0;
      return NextWindow();
    }
    return window;
  }

  // Applies the next step (all members do it together) and reports its window.
  absl::Status Step(bool report = true) {
    const PositionSet window = NextWindow();
    if (window.empty()) {
      // As a real worker does after its last step: report the final checkpoint (the job
      // finishes once it is recorded; repeats of the same path are ignored).
      if (absl::Status reported = Checkpoint(absl::StrCat("/final/step-", step_), 0.5);
          !reported.ok()) {
        return reported;
      }
      return absl::OutOfRangeError("no more data");
    }
    ++step_in_generation_;
    ++step_;
    if (!report) return absl::OkStatus();
    return Report(window, step_);
  }

  absl::Status Report(const PositionSet& window, int64_t step) {
    v1::WindowReport report;
    report.set_worker_id(id_);
    report.set_generation(generation_);
    report.set_epoch(epoch_);
    report.set_global_step(step);
    report.set_loss(0.69);
    ToRanges(window, report.mutable_consumed());
    v1::WindowAck ack;
    return FromGrpcStatus(stub_->ReportWindow(Context().get(), report, &ack));
  }

  absl::Status Checkpoint(const std::string& path, double accuracy) {
    v1::CheckpointReport report;
    report.set_worker_id(id_);
    report.set_generation(generation_);
    report.set_path(path);
    report.set_global_step(step_);
    report.set_epoch(epoch_);
    report.mutable_metrics()->set_accuracy(accuracy);
    report.mutable_metrics()->set_global_step(step_);
    v1::CheckpointAck ack;
    return FromGrpcStatus(stub_->ReportCheckpoint(Context().get(), report, &ack));
  }

  absl::Status Leave() {
    v1::LeaveRequest request;
    request.set_worker_id(id_);
    request.set_reason("done");
    v1::LeaveResponse response;
    return FromGrpcStatus(stub_->Leave(Context().get(), request, &response));
  }

  // Points the worker at a restarted coordinator (same state, new port).
  void Reconnect(int port) {
    stub_ = v1::WorkerCoordination::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void set_train_samples(uint64_t n) { train_samples_ = n; }
  const std::string& id() const { return id_; }
  int64_t generation() const { return generation_; }
  int64_t step() const { return step_; }
  const v1::RendezvousResponse& assignment() const { return assignment_; }
  v1::WorkerCoordination::Stub* stub() { return stub_.get(); }

 private:
  std::unique_ptr<v1::WorkerCoordination::Stub> stub_;
  std::string name_;
  std::string id_;
  v1::JobSpec spec_;
  v1::RendezvousResponse assignment_;
  int64_t generation_ = 0;
  int64_t step_ = 0;
  bool has_state_ = false;
  int32_t epoch_ = 0;
  PositionSet remaining_;
  uint64_t step_in_generation_ = 0;
  uint64_t train_samples_ = 0;
};

class CoordinatorServerTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& dir, const std::string& spec_path) {
    CoordinatorServer::Options options;
    options.spec_path = spec_path;
    options.journal_dir = dir + "/journal";
    options.bind_host = "127.0.0.1";
    options.clock = &clock_;
    options.run_background_loop = false;  // the test ticks after moving the clock
    options.join_settle = absl::ZeroDuration();
    options.ingest_threads = 1;
    auto server = CoordinatorServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    control_ = v1::JobControl::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<SimWorker> NewWorker(const std::string& name) {
    auto worker = std::make_unique<SimWorker>(server_->port(), name);
    worker->Join();
    worker->set_train_samples(GetStatus().train_samples());
    return worker;
  }

  v1::JobStatus GetStatus() {
    v1::JobStatus status;
    grpc::Status result = control_->GetStatus(Context().get(), v1::GetStatusRequest(), &status);
    EXPECT_TRUE(result.ok()) << result.error_message();
    return status;
  }

  void AwaitArrival(const SimWorker& worker) {
    const absl::Time end = absl::Now() + absl::Seconds(30);
    while (absl::Now() < end) {
      for (const std::string& id : server_->job()->WaitingWorkers()) {
        if (id == worker.id()) return;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    ADD_FAILURE() << worker.id() << " never arrived at the rendezvous";
  }

  // Lets `silent` miss heartbeats for longer than the timeout while `alive` keep beating.
  void KillByMissedHeartbeats(const std::vector<SimWorker*>& alive) {
    for (int i = 0; i < 3; ++i) {
      clock_.Advance(absl::Seconds(2));
      for (SimWorker* worker : alive) ASSERT_TRUE(worker->Heartbeat().ok());
    }
    server_->job()->Tick();
  }

  // One synchronous optimizer step by every member; every member reports the window.
  // Past the end of the data a member reports its final checkpoint instead (OUT_OF_RANGE).
  void StepAll(const std::vector<SimWorker*>& members) {
    for (SimWorker* worker : members) {
      absl::Status stepped = worker->Step();
      ASSERT_TRUE(stepped.ok() || stepped.code() == absl::StatusCode::kOutOfRange) << stepped;
    }
  }

  std::vector<v1::JobEvent> ReplayEvents() {
    auto context = Context(absl::Seconds(2));
    v1::WatchEventsRequest request;
    auto reader = control_->WatchEvents(context.get(), request);
    std::vector<v1::JobEvent> events;
    v1::JobEvent event;
    const int64_t expected = server_->job()->JournalState().events_size();
    while (static_cast<int64_t>(events.size()) < expected && reader->Read(&event)) {
      events.push_back(event);
    }
    context->TryCancel();
    reader->Finish();
    return events;
  }

  FakeClock clock_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<v1::JobControl::Stub> control_;
};

TEST_F(CoordinatorServerTest, EverySampleOncePerEpochAcrossADeadWorker) {
  const std::string dir = FreshDir("death");
  StartServer(dir, WriteSpec(dir, R"("batch_per_worker": 4, "epochs": 2)"));
  const int64_t n = GetStatus().train_samples();
  ASSERT_GT(n, 60);  // ~96 of 120 tweets are training rows

  auto a = NewWorker("a"), b = NewWorker("b"), c = NewWorker("c");
  ASSERT_TRUE(a->Rendezvous().ok());  // join_settle 0: a alone forms generation 1
  auto fb = b->RendezvousAsync();
  AwaitArrival(*b);
  auto fc = c->RendezvousAsync();
  AwaitArrival(*c);
  auto heartbeat = a->Heartbeat();
  ASSERT_TRUE(heartbeat.ok());
  EXPECT_EQ(heartbeat->generation(), 2);
  ASSERT_TRUE(a->Rendezvous().ok());
  ASSERT_TRUE(fb.get().ok());
  ASSERT_TRUE(fc.get().ok());
  EXPECT_EQ(a->assignment().rank(), 0);
  EXPECT_EQ(b->assignment().rank(), 1);
  EXPECT_EQ(c->assignment().rank(), 2);
  EXPECT_EQ(c->assignment().world_size(), 3);

  for (int step = 0; step < 3; ++step) StepAll({a.get(), b.get(), c.get()});  // 36 positions
  // c's process dies: no more heartbeats.
  KillByMissedHeartbeats({a.get(), b.get()});
  auto after_death = a->Heartbeat();
  ASSERT_TRUE(after_death.ok());
  EXPECT_EQ(after_death->generation(), 3);
  auto fa = a->RendezvousAsync();
  ASSERT_TRUE(b->Rendezvous().ok());
  ASSERT_TRUE(fa.get().ok());
  EXPECT_EQ(a->assignment().world_size(), 2);
  EXPECT_EQ(a->assignment().state_source_rank(), 0);
  EXPECT_EQ(a->assignment().global_step(), 3);
  // The new plan is exactly the unread remainder.
  EXPECT_EQ(ToPositionSet(a->assignment().plan().remaining()), PositionSet::Range(36, n));
  EXPECT_EQ(a->assignment().store_prefix(), "gen-3/");

  // Train both epochs to the end.
  for (int step = 0; step < 1000 && GetStatus().state() != v1::JOB_FINISHED; ++step) {
    StepAll({a.get(), b.get()});
  }
  const v1::JobStatus status = GetStatus();
  EXPECT_EQ(status.state(), v1::JOB_FINISHED);
  ASSERT_EQ(status.accounting_size(), 2);
  for (const v1::EpochAccounting& epoch : status.accounting()) {
    EXPECT_EQ(epoch.samples(), n);
    EXPECT_EQ(epoch.consumed(), n) << "epoch " << epoch.epoch();
    EXPECT_EQ(epoch.duplicated(), 0) << "epoch " << epoch.epoch();
    EXPECT_TRUE(epoch.complete());
  }
  auto final_heartbeat = a->Heartbeat();
  ASSERT_TRUE(final_heartbeat.ok());
  EXPECT_TRUE(final_heartbeat->job_finished());

  std::vector<std::string> kinds;
  for (const v1::JobEvent& event : ReplayEvents()) kinds.push_back(event.kind());
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "worker_joined"), 3);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "worker_dead"), 1);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "epoch_end"), 2);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "finished"), 1);
}

TEST_F(CoordinatorServerTest, AWorkerAddedMidJobJoinsAtTheNextGeneration) {
  const std::string dir = FreshDir("added");
  StartServer(dir, WriteSpec(dir, R"("batch_per_worker": 4)"));
  auto a = NewWorker("a");
  ASSERT_TRUE(a->Rendezvous().ok());
  for (int step = 0; step < 2; ++step) StepAll({a.get()});
  auto d = NewWorker("d");
  auto fd = d->RendezvousAsync();
  AwaitArrival(*d);
  // a finishes its current step before it notices (step boundary), then regroups.
  StepAll({a.get()});
  auto heartbeat = a->Heartbeat();
  ASSERT_TRUE(heartbeat.ok());
  ASSERT_EQ(heartbeat->generation(), 2);
  ASSERT_TRUE(a->Rendezvous().ok());
  ASSERT_TRUE(fd.get().ok());
  EXPECT_EQ(d->assignment().generation(), 2);
  EXPECT_EQ(d->assignment().rank(), 1);
  EXPECT_EQ(d->assignment().world_size(), 2);
  EXPECT_EQ(d->assignment().state_source_rank(), 0);  // d takes a's state
  EXPECT_EQ(d->assignment().global_step(), 3);
  EXPECT_EQ(ToPositionSet(d->assignment().plan().remaining()).ranges().front().begin, 12u);
  StepAll({a.get(), d.get()});
  EXPECT_EQ(GetStatus().accounting(0).consumed(), 20);
}

TEST_F(CoordinatorServerTest, DrainedWorkerLeavesCleanly) {
  const std::string dir = FreshDir("drain");
  StartServer(dir, WriteSpec(dir, R"("batch_per_worker": 4)"));
  auto a = NewWorker("a"), b = NewWorker("b");
  ASSERT_TRUE(a->Rendezvous().ok());
  auto fb = b->RendezvousAsync();
  AwaitArrival(*b);
  ASSERT_TRUE(a->Rendezvous().ok());
  ASSERT_TRUE(fb.get().ok());
  StepAll({a.get(), b.get()});

  v1::DrainWorkerRequest drain;
  drain.set_worker_id(a->id());
  v1::DrainWorkerResponse drained;
  ASSERT_TRUE(control_->DrainWorker(Context().get(), drain, &drained).ok());
  auto told = a->Heartbeat();
  ASSERT_TRUE(told.ok());
  EXPECT_TRUE(told->drain());
  StepAll({a.get(), b.get()});  // finish the step, then leave
  ASSERT_TRUE(a->Leave().ok());
  ASSERT_TRUE(b->Rendezvous().ok());
  EXPECT_EQ(b->assignment().world_size(), 1);
  EXPECT_EQ(b->assignment().rank(), 0);
  EXPECT_EQ(b->assignment().global_step(), 2);
  const v1::JobStatus status = GetStatus();
  for (const v1::WorkerStatus& worker : status.workers()) {
    EXPECT_EQ(worker.state(), worker.worker_id() == a->id() ? v1::WORKER_LEFT : v1::WORKER_ACTIVE);
  }
  EXPECT_EQ(status.accounting(0).consumed(), 16);
}

TEST_F(CoordinatorServerTest, BadRequestsGetClearErrors) {
  const std::string dir = FreshDir("errors");
  StartServer(dir, WriteSpec(dir, ""));
  auto a = NewWorker("a"), b = NewWorker("b");
  ASSERT_TRUE(a->Rendezvous().ok());

  v1::HeartbeatRequest unknown;
  unknown.set_worker_id("w-404");
  v1::HeartbeatResponse heartbeat;
  grpc::Status status = a->stub()->Heartbeat(Context().get(), unknown, &heartbeat);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("w-404"), std::string::npos);

  v1::DrainWorkerRequest drain;
  drain.set_worker_id("w-404");
  v1::DrainWorkerResponse drained;
  EXPECT_EQ(control_->DrainWorker(Context().get(), drain, &drained).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::WindowReport malformed;
  malformed.set_worker_id(a->id());
  malformed.set_generation(1);
  malformed.set_global_step(1);
  v1::WindowAck ack;
  EXPECT_EQ(a->stub()->ReportWindow(Context().get(), malformed, &ack).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // empty window

  v1::SetWorkerLimitsRequest limits;
  limits.set_min_workers(4);
  limits.set_max_workers(2);
  v1::JobStatus job_status;
  EXPECT_EQ(control_->SetWorkerLimits(Context().get(), limits, &job_status).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Generation 2 forms without b's old generation... b never had one; make a stale worker:
  // a trains in generation 1, b arrives, a regroups into 2; a report of generation 1 is stale.
  auto fb = b->RendezvousAsync();
  AwaitArrival(*b);
  ASSERT_TRUE(a->Rendezvous().ok());
  ASSERT_TRUE(fb.get().ok());
  v1::WindowReport stale;
  stale.set_worker_id(a->id());
  stale.set_generation(1);
  stale.set_global_step(1);
  ToRanges(PositionSet::Range(0, 4), stale.mutable_consumed());
  grpc::Status stale_status = a->stub()->ReportWindow(Context().get(), stale, &ack);
  EXPECT_EQ(stale_status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(stale_status.error_message().find("stale generation 1"), std::string::npos);

  // A dead worker's heartbeat: ABORTED (join again), and the trailer names the generation.
  KillByMissedHeartbeats({a.get()});
  v1::HeartbeatRequest from_dead;
  from_dead.set_worker_id(b->id());
  from_dead.set_generation(2);
  auto context = Context();
  status = b->stub()->Heartbeat(context.get(), from_dead, &heartbeat);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  auto trailer = context->GetServerTrailingMetadata().find(kGenerationMetadataKey);
  ASSERT_NE(trailer, context->GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(trailer->second.data(), trailer->second.size()), "3");

  v1::PublishRequest publish;
  publish.set_target("127.0.0.1:1");
  v1::PublishResponse published;
  EXPECT_EQ(control_->Publish(Context().get(), publish, &published).error_code(),
            grpc::StatusCode::NOT_FOUND);  // no checkpoint yet
  // An existing checkpoint directory, but no serving replica at the target.
  ASSERT_TRUE(MakeDirectories(dir + "/ckpt").ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/ckpt/config.json", "{}").ok());
  publish.set_checkpoint(dir + "/ckpt");
  grpc::Status publish_status = control_->Publish(Context().get(), publish, &published);
  EXPECT_EQ(publish_status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << publish_status.error_message();
  EXPECT_NE(publish_status.error_message().find("127.0.0.1:1"), std::string::npos);
}

TEST_F(CoordinatorServerTest, BadSpecsFailWithTheFieldNamed) {
  const std::string dir = FreshDir("bad_spec");
  struct Case {
    std::string extra;
    std::string expected;
  };
  for (const Case& bad : {Case{R"("batch_per_worker": 0)", "batch_per_worker"},
                          Case{R"("min_workers": 3, "max_workers": 1)", "max_workers"},
                          Case{R"("backend": "mpi")", "backend"},
                          Case{R"("model_preset": "giant")", "model_preset"},
                          Case{R"("unknown_knob": 1)", "unknown_knob"}}) {
    CoordinatorServer::Options options;
    options.spec_path = WriteSpec(dir, bad.extra);
    options.journal_dir = dir + "/journal";
    options.bind_host = "127.0.0.1";
    auto server = CoordinatorServer::Create(options);
    ASSERT_FALSE(server.ok()) << bad.extra;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << server.status();
    EXPECT_NE(server.status().message().find(bad.expected), std::string::npos)
        << server.status();
  }
  CoordinatorServer::Options options;
  options.spec_path = dir + "/job.json";
  options.journal_dir = dir + "/journal";
  ASSERT_TRUE(WriteFileAtomically(options.spec_path,
                                  R"({"corpus_path": "/nonexistent", "vocab_path": ")" +
                                      murmur::testing::SharedDataPath(
                                          "distilbert-base-uncased/vocab.txt") +
                                      "\"}")
                  .ok());
  auto missing_corpus = CoordinatorServer::Create(options);
  ASSERT_FALSE(missing_corpus.ok());
  EXPECT_NE(missing_corpus.status().message().find("corpus_path"), std::string::npos)
      << missing_corpus.status();
}

TEST_F(CoordinatorServerTest, RestartFromJournalResumesWithoutRegrouping) {
  const std::string dir = FreshDir("restart");
  const std::string spec = WriteSpec(dir, R"("batch_per_worker": 4)");
  StartServer(dir, spec);
  auto a = NewWorker("a"), b = NewWorker("b");
  ASSERT_TRUE(a->Rendezvous().ok());
  auto fb = b->RendezvousAsync();
  AwaitArrival(*b);
  ASSERT_TRUE(a->Rendezvous().ok());
  ASSERT_TRUE(fb.get().ok());
  StepAll({a.get(), b.get()});
  StepAll({a.get(), b.get()});
  ASSERT_TRUE(a->Checkpoint(dir + "/ckpt-2", 0.61).ok());
  const v1::JobStatus before = GetStatus();

  // The coordinator goes away (its journal is all that survives) and comes back elsewhere.
  server_.reset();
  StartServer(dir, spec);
  a->Reconnect(server_->port());
  b->Reconnect(server_->port());
  v1::JobStatus after = GetStatus();
  EXPECT_EQ(after.generation(), before.generation());
  EXPECT_EQ(after.global_step(), 2);
  EXPECT_EQ(after.accounting(0).consumed(), 16);
  ASSERT_EQ(after.checkpoints_size(), 1);
  EXPECT_EQ(after.checkpoints(0).path(), dir + "/ckpt-2");
  EXPECT_TRUE(after.checkpoints(0).best());
  ASSERT_EQ(after.workers_size(), 2);
  // The workers kept training meanwhile; they report and heartbeat in the same generation.
  StepAll({a.get(), b.get()});
  for (SimWorker* worker : {a.get(), b.get()}) {
    auto heartbeat = worker->Heartbeat();
    ASSERT_TRUE(heartbeat.ok()) << heartbeat.status();
    EXPECT_EQ(heartbeat->generation(), before.generation());
  }
  clock_.Advance(absl::Seconds(3));  // within the fresh grace period
  server_->job()->Tick();
  after = GetStatus();
  EXPECT_EQ(after.generation(), before.generation());
  EXPECT_EQ(after.accounting(0).consumed(), 24);
  for (const v1::WorkerStatus& worker : after.workers()) EXPECT_EQ(worker.state(), v1::WORKER_ACTIVE);
}

TEST_F(CoordinatorServerTest, StoreRpcsHaveC10dSemantics) {
  const std::string dir = FreshDir("store");
  StartServer(dir, WriteSpec(dir, ""));
  auto a = NewWorker("a");
  v1::WorkerCoordination::Stub* stub = a->stub();
  v1::StoreSetRequest set;
  set.set_key("gen-1/rank0");
  set.set_value(std::string("\x01\x00\xff", 3));
  v1::StoreSetResponse set_response;
  ASSERT_TRUE(stub->StoreSet(Context().get(), set, &set_response).ok());

  v1::StoreGetRequest get;
  get.add_keys("gen-1/rank0");
  get.set_timeout_ms(1000);
  v1::StoreGetResponse got;
  ASSERT_TRUE(stub->StoreGet(Context().get(), get, &got).ok());
  EXPECT_EQ(got.value(), std::string("\x01\x00\xff", 3));

  get.add_keys("gen-1/rank1");
  get.set_timeout_ms(100);
  EXPECT_EQ(stub->StoreGet(Context().get(), get, &got).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);

  // A waiting get returns once another client sets the key.
  get.set_timeout_ms(30000);
  auto waiter = std::async(std::launch::async, [&] {
    v1::StoreGetResponse response;
    return stub->StoreGet(Context().get(), get, &response);
  });
  absl::SleepFor(absl::Milliseconds(50));
  set.set_key("gen-1/rank1");
  ASSERT_TRUE(stub->StoreSet(Context().get(), set, &set_response).ok());
  EXPECT_TRUE(waiter.get().ok());

  v1::StoreAddRequest add;
  add.set_key("gen-1/count");
  add.set_delta(2);
  v1::StoreAddResponse added;
  ASSERT_TRUE(stub->StoreAdd(Context().get(), add, &added).ok());
  ASSERT_TRUE(stub->StoreAdd(Context().get(), add, &added).ok());
  EXPECT_EQ(added.value(), 4);

  v1::StoreCheckRequest check;
  check.add_keys("gen-1/count");
  check.add_keys("gen-1/rank0");
  v1::StoreCheckResponse checked;
  ASSERT_TRUE(stub->StoreCheck(Context().get(), check, &checked).ok());
  EXPECT_TRUE(checked.all_present());
  EXPECT_EQ(checked.num_keys(), 3);

  v1::StoreDeleteRequest del;
  del.set_key("gen-1/count");
  v1::StoreDeleteResponse deleted;
  ASSERT_TRUE(stub->StoreDelete(Context().get(), del, &deleted).ok());
  EXPECT_TRUE(deleted.deleted());
  ASSERT_TRUE(stub->StoreCheck(Context().get(), check, &checked).ok());
  EXPECT_FALSE(checked.all_present());

  // Generation 1's keys go when generation 2 forms.
  ASSERT_TRUE(a->Rendezvous().ok());
  auto b = NewWorker("b");
  auto fb = b->RendezvousAsync();
  AwaitArrival(*b);
  ASSERT_TRUE(a->Rendezvous().ok());
  ASSERT_TRUE(fb.get().ok());
  ASSERT_EQ(b->assignment().generation(), 2);
  ASSERT_TRUE(stub->StoreCheck(Context().get(), check, &checked).ok());
  EXPECT_EQ(checked.num_keys(), 0);
}

// Free-running workers on the real clock with a short heartbeat timeout: the coordinator's own
// loop detects the death. Only generous time bounds.
TEST(CoordinatorServerRealClockTest, FreeRunningWorkersSurviveADeath) {
  const std::string dir = FreshDir("real_clock");
  CoordinatorServer::Options options;
  options.spec_path =
      WriteSpec(dir, R"("batch_per_worker": 1, "heartbeat_timeout_ms": 500, "min_workers": 2)");
  options.journal_dir = dir + "/journal";
  options.bind_host = "127.0.0.1";
  options.join_settle = absl::Milliseconds(300);
  options.rendezvous_poll = absl::Seconds(2);
  options.tick_interval = absl::Milliseconds(20);
  auto server = CoordinatorServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  const uint64_t n = (*server)->job()->Status().train_samples();

  std::atomic<bool> failed{false};
  auto run = [&](const std::string& name, int die_after_steps) {
    SimWorker worker(port, name);
    worker.Join();
    worker.set_train_samples(n);
    int steps = 0;
    if (!worker.Rendezvous().ok()) return void(failed = true);
    const absl::Time end = absl::Now() + absl::Seconds(60);
    while (absl::Now() < end) {
      if (worker.assignment().job_finished()) return;
      if (die_after_steps >= 0 && steps >= die_after_steps) return;  // "killed": silent
      // A lock-step all-reduce would make members wait for each other; here each member
      // reports the same windows, which is what the coordinator sees either way.
      absl::Status stepped = worker.Step();
      if (stepped.code() == absl::StatusCode::kFailedPrecondition) {
        // Our generation is over; regroup.
        if (!worker.Rendezvous().ok()) return void(failed = true);
        continue;
      }
      if (stepped.code() == absl::StatusCode::kOutOfRange) {
        absl::SleepFor(absl::Milliseconds(20));  // plan done: wait for the finish
      } else if (!stepped.ok()) {
        return void(failed = true);
      }
      ++steps;
      auto heartbeat = worker.Heartbeat();
      if (!heartbeat.ok()) return void(failed = true);
      if (heartbeat->job_finished()) return;
      if (heartbeat->generation() != worker.generation()) {
        if (!worker.Rendezvous().ok()) return void(failed = true);
      }
      // ~100 steps at >= 50 ms each: the job outlives c's heartbeat timeout several times.
      absl::SleepFor(absl::Milliseconds(50));
    }
    failed = true;  // did not finish in a minute
  };
  std::thread a(run, "a", -1), b(run, "b", -1), c(run, "c", 3);
  a.join();
  b.join();
  c.join();
  EXPECT_FALSE(failed);
  const v1::JobStatus status = (*server)->job()->Status();
  EXPECT_EQ(status.state(), v1::JOB_FINISHED);
  ASSERT_EQ(status.accounting_size(), 1);
  EXPECT_EQ(status.accounting(0).consumed(), static_cast<int64_t>(n));
  EXPECT_EQ(status.accounting(0).duplicated(), 0);
  int dead = 0;
  for (const v1::WorkerStatus& worker : status.workers()) dead += worker.state() == v1::WORKER_DEAD;
  EXPECT_EQ(dead, 1);
}

}  // namespace
}  // namespace murmur::coordinator
