#include "worker/gloo_communicator.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace murmur::worker {
namespace {

// c10d signals a failed or timed-out collective with an exception; the group is then broken and
// the caller should regroup, which UNAVAILABLE says.
absl::Status CollectiveError(const char* what, const std::exception& error) {
  return absl::UnavailableError(absl::StrCat("gloo ", what, " failed: ", error.what()));
}

// How often a wait looks at the abort flag. A completed collective returns at once; only a
// collective still waiting for a peer pays this granularity.
constexpr std::chrono::milliseconds kAbortPoll(20);

absl::Status AbortedError(const char* what) {
  return absl::UnavailableError(
      absl::StrCat("gloo ", what, " abandoned: the group was aborted (a member is gone)"));
}

class GlooWork final : public CollectiveWork {
 public:
  GlooWork(const char* what, c10::intrusive_ptr<c10d::Work> work,
           std::shared_ptr<std::atomic<bool>> aborted)
      : what_(what), work_(std::move(work)), aborted_(std::move(aborted)) {}

  absl::Status Wait() override { return WaitAbortable(*work_, *aborted_, what_, kAbortPoll); }

 private:
  const char* what_;
  c10::intrusive_ptr<c10d::Work> work_;
  std::shared_ptr<std::atomic<bool>> aborted_;
};

class GlooCommunicator final : public Communicator {
 public:
  GlooCommunicator(c10::intrusive_ptr<c10d::ProcessGroupGloo> group, int rank, int world_size)
      : group_(std::move(group)), rank_(rank), world_size_(world_size) {}

  ~GlooCommunicator() override {
    if (!aborted_->load()) return;
    // ProcessGroupGloo's destructor waits for the collectives in flight, which end only at the
    // collective timeout, and joins its threads. The regrouping worker must not wait for that,
    // and a thread destroying it could still be running when the process exits. So an aborted
    // group is kept, never destroyed: its in-flight work fails at the timeout and releases its
    // tensors; what stays is the group's idle threads and connections (a few per abort).
    static absl::Mutex mu;
    static auto* const aborted_groups = new std::vector<c10::intrusive_ptr<c10d::ProcessGroupGloo>>;
    absl::MutexLock lock(&mu);
    aborted_groups->push_back(std::move(group_));
  }

  void Abort() override { aborted_->store(true); }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::string backend() const override { return "gloo"; }

  std::unique_ptr<CollectiveWork> AllReduce(at::Tensor tensor, ReduceOp op) override {
    if (aborted_->load()) return FinishedWork(AbortedError("all-reduce"));
    return Start("all-reduce", [&] {
      std::vector<at::Tensor> tensors = {std::move(tensor)};
      c10d::AllreduceOptions options;
      options.reduceOp = op == ReduceOp::kSum ? c10d::ReduceOp::SUM : c10d::ReduceOp::MAX;
      return group_->allreduce(tensors, options);
    });
  }

  std::unique_ptr<CollectiveWork> Broadcast(at::Tensor tensor, int root) override {
    if (aborted_->load()) return FinishedWork(AbortedError("broadcast"));
    return Start("broadcast", [&] {
      std::vector<at::Tensor> tensors = {std::move(tensor)};
      c10d::BroadcastOptions options;
      options.rootRank = root;
      return group_->broadcast(tensors, options);
    });
  }

  std::unique_ptr<CollectiveWork> AllGather(at::Tensor input,
                                            std::vector<at::Tensor> outputs) override {
    if (aborted_->load()) return FinishedWork(AbortedError("all-gather"));
    return Start("all-gather", [&] {
      std::vector<std::vector<at::Tensor>> output_lists = {std::move(outputs)};
      std::vector<at::Tensor> inputs = {std::move(input)};
      return group_->allgather(output_lists, inputs);
    });
  }

 private:
  template <typename F>
  std::unique_ptr<CollectiveWork> Start(const char* what, F&& start) {
    try {
      return std::make_unique<GlooWork>(what, start(), aborted_);
    } catch (const std::exception& error) {
      return FinishedWork(CollectiveError(what, error));
    }
  }

  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
  int rank_;
  int world_size_;
  // Shared with the work items, which may be waited on after the communicator is gone.
  std::shared_ptr<std::atomic<bool>> aborted_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

absl::Status WaitAbortable(c10d::Work& work, const std::atomic<bool>& aborted, const char* what,
                           std::chrono::milliseconds poll) {
  try {
    while (!work.isCompleted()) {
      if (aborted.load()) return AbortedError(what);
      try {
        work.wait(poll);
      } catch (const std::exception&) {
        // Either the poll ran out ("Operation timed out!", though the collective may complete
        // an instant later) or the collective failed. Which one is the work's completed state
        // to say: the wait below rethrows the collective's own error, and only that one.
      }
    }
    work.wait();
    return absl::OkStatus();
  } catch (const std::exception& error) {
    return CollectiveError(what, error);
  }
}

absl::StatusOr<std::unique_ptr<Communicator>> CreateGlooCommunicator(
    c10::intrusive_ptr<c10d::Store> store, int rank, int world_size, const GlooOptions& options) {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", rank, " is outside a world of ", world_size));
  }
  try {
    auto group_options = c10d::ProcessGroupGloo::Options::create(options.timeout);
    group_options->devices = {
        c10d::ProcessGroupGloo::createDeviceForHostname(options.host)};
    group_options->threads = options.threads;
    c10::intrusive_ptr<c10d::Store> prefixed = store;
    if (!options.store_prefix.empty()) {
      prefixed = c10::make_intrusive<c10d::PrefixStore>(options.store_prefix, store);
    }
    prefixed->setTimeout(options.timeout);
    auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, world_size,
                                                            group_options);
    return std::unique_ptr<Communicator>(
        new GlooCommunicator(std::move(group), rank, world_size));
  } catch (const std::exception& error) {
    return absl::UnavailableError(absl::StrCat("cannot form the gloo group (rank ", rank, " of ",
                                               world_size, "): ", error.what()));
  }
}

}  // namespace murmur::worker
