// The same contract checked on every CPU backend: Gloo through c10d (ranks as threads sharing a
// HashStore, as c10d's own ProcessGroupGlooTest does) and the in-process fake.
#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include <functional>
#include <thread>

#include "absl/time/clock.h"
#include "worker/communicator.h"
#include "worker/fake_communicator.h"
#include "worker/gloo_communicator.h"

namespace murmur::worker {
namespace {

// Runs fn(communicator) on `world` ranks in parallel threads; returns each rank's status.
using RankFn = std::function<absl::Status(Communicator&)>;

class Backend {
 public:
  virtual ~Backend() = default;
  // Creates all ranks' communicators (in threads, since forming a group blocks).
  virtual std::vector<std::unique_ptr<Communicator>> Create(int world,
                                                            std::chrono::milliseconds timeout) = 0;
  virtual void BreakPeer() {}
};

class GlooBackend : public Backend {
 public:
  std::vector<std::unique_ptr<Communicator>> Create(int world,
                                                    std::chrono::milliseconds timeout) override {
    auto store = c10::make_intrusive<c10d::HashStore>();
    std::vector<std::unique_ptr<Communicator>> comms(world);
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] {
        GlooOptions options;
        options.timeout = timeout;
        options.store_prefix = "test/";
        auto comm = CreateGlooCommunicator(store, r, world, options);
        EXPECT_TRUE(comm.ok()) << comm.status();
        if (comm.ok()) comms[r] = *std::move(comm);
      });
    }
    for (auto& t : threads) t.join();
    return comms;
  }
};

class FakeBackend : public Backend {
 public:
  std::vector<std::unique_ptr<Communicator>> Create(int world,
                                                    std::chrono::milliseconds timeout) override {
    hub_ = std::make_unique<FakeCollectiveHub>(world, timeout);
    std::vector<std::unique_ptr<Communicator>> comms;
    for (int r = 0; r < world; ++r) comms.push_back(hub_->Join(r));
    return comms;
  }

 private:
  std::unique_ptr<FakeCollectiveHub> hub_;
};

std::vector<absl::Status> RunRanks(std::vector<std::unique_ptr<Communicator>>& comms,
                                   const RankFn& fn, int only_first = -1) {
  int n = only_first < 0 ? static_cast<int>(comms.size()) : only_first;
  std::vector<absl::Status> statuses(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] { statuses[r] = fn(*comms[r]); });
  }
  for (auto& t : threads) t.join();
  return statuses;
}

class CommunicatorTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Backend> MakeBackend() {
    if (GetParam() == "gloo") return std::make_unique<GlooBackend>();
    return std::make_unique<FakeBackend>();
  }
};

TEST_P(CommunicatorTest, AllReduceSumAndMax) {
  auto backend = MakeBackend();
  auto comms = backend->Create(3, std::chrono::seconds(10));
  ASSERT_EQ(comms[0]->backend(), GetParam());
  auto statuses = RunRanks(comms, [](Communicator& comm) -> absl::Status {
    at::Tensor t = at::full({1000}, static_cast<float>(comm.rank() + 1));
    if (auto s = comm.AllReduceSync(t, ReduceOp::kSum); !s.ok()) return s;
    if (!at::allclose(t, at::full({1000}, 6.0f))) return absl::InternalError("wrong sum");
    at::Tensor m = at::tensor({static_cast<float>(comm.rank()), -1.0f * comm.rank()});
    if (auto s = comm.AllReduceSync(m, ReduceOp::kMax); !s.ok()) return s;
    if (m[0].item<float>() != 2.0f || m[1].item<float>() != 0.0f) {
      return absl::InternalError("wrong max");
    }
    // Several collectives in flight at once complete in order.
    at::Tensor a = at::ones({17});
    at::Tensor b = at::ones({5}, at::kDouble);
    auto wa = comm.AllReduce(a, ReduceOp::kSum);
    auto wb = comm.AllReduce(b, ReduceOp::kSum);
    if (auto s = wa->Wait(); !s.ok()) return s;
    if (auto s = wb->Wait(); !s.ok()) return s;
    if (a[16].item<float>() != 3.0f || b[4].item<double>() != 3.0) {
      return absl::InternalError("wrong async sums");
    }
    return absl::OkStatus();
  });
  for (const auto& s : statuses) EXPECT_TRUE(s.ok()) << s;
}

TEST_P(CommunicatorTest, BroadcastAndAllGather) {
  auto backend = MakeBackend();
  auto comms = backend->Create(2, std::chrono::seconds(10));
  auto statuses = RunRanks(comms, [](Communicator& comm) -> absl::Status {
    at::Tensor t = comm.rank() == 1 ? at::arange(10, at::kFloat) : at::zeros({10});
    if (auto s = comm.BroadcastSync(t, 1); !s.ok()) return s;
    if (!at::equal(t, at::arange(10, at::kFloat))) return absl::InternalError("broadcast");
    at::Tensor mine = at::full({3}, static_cast<int64_t>(comm.rank() * 10), at::kLong);
    std::vector<at::Tensor> all = {at::empty({3}, at::kLong), at::empty({3}, at::kLong)};
    if (auto s = comm.AllGatherSync(mine, all); !s.ok()) return s;
    if (all[0][2].item<int64_t>() != 0 || all[1][0].item<int64_t>() != 10) {
      return absl::InternalError("all-gather");
    }
    return absl::OkStatus();
  });
  for (const auto& s : statuses) EXPECT_TRUE(s.ok()) << s;
}

// A rank that never joins the collective (it died) makes the others fail within the timeout
// with UNAVAILABLE instead of hanging.
TEST_P(CommunicatorTest, MissingPeerTimesOutAsUnavailable) {
  auto backend = MakeBackend();
  auto comms = backend->Create(3, std::chrono::milliseconds(1500));
  absl::Time start = absl::Now();
  auto statuses = RunRanks(
      comms,
      [](Communicator& comm) {
        at::Tensor t = at::ones({100});
        return comm.AllReduceSync(t, ReduceOp::kSum);
      },
      /*only_first=*/2);
  double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  for (const auto& s : statuses) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  }
  EXPECT_LT(seconds, 30.0);  // bounded, not a hang (the bound itself is what regrouping needs)
}

TEST_P(CommunicatorTest, AbortEndsACollectiveWaitingForADeadPeerLongBeforeTheTimeout) {
  auto backend = MakeBackend();
  const auto timeout = std::chrono::seconds(60);
  auto comms = backend->Create(3, timeout);
  // Rank 2 is "dead": ranks 0 and 1 wait for it until the coordinator says so (Abort, from
  // another thread, as the heartbeat thread does).
  std::thread aborter([&] {
    absl::SleepFor(absl::Milliseconds(300));
    comms[0]->Abort();
    comms[1]->Abort();
  });
  absl::Time start = absl::Now();
  auto statuses = RunRanks(
      comms,
      [](Communicator& comm) {
        at::Tensor t = at::ones({100});
        return comm.AllReduceSync(t, ReduceOp::kSum);
      },
      /*only_first=*/2);
  aborter.join();
  const absl::Duration waited = absl::Now() - start;
  for (const auto& s : statuses) EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_LT(waited, absl::Seconds(20)) << "the abort was not seen before the 60 s timeout";
  // An aborted group stays unusable.
  at::Tensor t = at::ones({1});
  EXPECT_EQ(comms[0]->AllReduceSync(t, ReduceOp::kSum).code(), absl::StatusCode::kUnavailable);
}

INSTANTIATE_TEST_SUITE_P(Backends, CommunicatorTest, ::testing::Values("gloo", "fake"),
                         [](const auto& info) { return info.param; });

TEST(GlooCommunicatorTest, RejectsBadRank) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  EXPECT_EQ(CreateGlooCommunicator(store, 2, 2, GlooOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GlooCommunicatorTest, GroupThatNeverFormsFailsWithinTimeout) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  GlooOptions options;
  options.timeout = std::chrono::milliseconds(1000);
  auto comm = CreateGlooCommunicator(store, 0, 2, options);  // rank 1 never comes
  EXPECT_EQ(comm.status().code(), absl::StatusCode::kUnavailable);
}

// A c10d work item whose timed waits always run out, as c10d's do ("Operation timed out!"), but
// which completes during the wait that runs out at `completes_at_poll`: the moment a collective
// finishes just as the poll gives up. With `failure`, it completes with that error instead.
class RacingWork final : public c10d::Work {
 public:
  RacingWork(int completes_at_poll, std::exception_ptr failure)
      : completes_at_poll_(completes_at_poll), failure_(std::move(failure)) {}

  bool wait(std::chrono::milliseconds timeout) override {
    if (timeout == kNoTimeout) return c10d::Work::wait(timeout);
    if (++polls_ == completes_at_poll_) finish(failure_);
    throw std::runtime_error("Operation timed out!");
  }
  int polls() const { return polls_; }

 private:
  const int completes_at_poll_;
  const std::exception_ptr failure_;
  int polls_ = 0;
};

TEST(WaitAbortableTest, CollectiveCompletingAsThePollRunsOutSucceeds) {
  auto work = c10::make_intrusive<RacingWork>(3, nullptr);
  std::atomic<bool> aborted{false};
  EXPECT_TRUE(WaitAbortable(*work, aborted, "all-reduce", std::chrono::milliseconds(1)).ok());
  EXPECT_EQ(work->polls(), 3);
}

TEST(WaitAbortableTest, CollectiveFailureIsItsOwnError) {
  auto work = c10::make_intrusive<RacingWork>(
      2, std::make_exception_ptr(std::runtime_error("peer closed the connection")));
  std::atomic<bool> aborted{false};
  absl::Status status = WaitAbortable(*work, aborted, "all-gather", std::chrono::milliseconds(1));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("peer closed the connection"), absl::string_view::npos)
      << status;
}

TEST(WaitAbortableTest, AbortEndsTheWait) {
  auto work = c10::make_intrusive<RacingWork>(1000000, nullptr);
  std::atomic<bool> aborted{true};
  absl::Status status = WaitAbortable(*work, aborted, "broadcast", std::chrono::milliseconds(1));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("aborted"), absl::string_view::npos) << status;
}

}  // namespace
}  // namespace murmur::worker
