#include "worker/fake_communicator.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace murmur::worker {

class FakeCommunicator final : public Communicator {
 public:
  FakeCommunicator(FakeCollectiveHub* hub, int rank) : hub_(hub), rank_(rank) {}

  int rank() const override { return rank_; }
  int world_size() const override { return hub_->world_size_; }
  std::string backend() const override { return "fake"; }
  // As a real group's abort: every rank's collectives fail from now on.
  void Abort() override { hub_->Break(); }

  std::unique_ptr<CollectiveWork> AllReduce(at::Tensor tensor, ReduceOp op) override {
    std::vector<at::Tensor> all;
    auto kind = op == ReduceOp::kSum ? FakeCollectiveHub::Kind::kAllReduceSum
                                     : FakeCollectiveHub::Kind::kAllReduceMax;
    absl::Status status = hub_->Exchange(rank_, kind, tensor, &all);
    if (status.ok()) {
      at::Tensor result = all[0].clone();
      for (size_t r = 1; r < all.size(); ++r) {
        result = op == ReduceOp::kSum ? result + all[r] : at::maximum(result, all[r]);
      }
      tensor.copy_(result);
    }
    return FinishedWork(status);
  }

  std::unique_ptr<CollectiveWork> Broadcast(at::Tensor tensor, int root) override {
    std::vector<at::Tensor> all;
    absl::Status status = hub_->Exchange(rank_, FakeCollectiveHub::Kind::kBroadcast, tensor, &all);
    if (status.ok()) tensor.copy_(all[root]);
    return FinishedWork(status);
  }

  std::unique_ptr<CollectiveWork> AllGather(at::Tensor input,
                                            std::vector<at::Tensor> outputs) override {
    std::vector<at::Tensor> all;
    absl::Status status = hub_->Exchange(rank_, FakeCollectiveHub::Kind::kAllGather, input, &all);
    if (status.ok()) {
      for (size_t r = 0; r < all.size(); ++r) outputs[r].copy_(all[r]);
    }
    return FinishedWork(status);
  }

 private:
  FakeCollectiveHub* hub_;
  int rank_;
};

FakeCollectiveHub::FakeCollectiveHub(int world_size, std::chrono::milliseconds timeout)
    : world_size_(world_size), timeout_(timeout), inputs_(world_size) {}

std::unique_ptr<Communicator> FakeCollectiveHub::Join(int rank) {
  return std::make_unique<FakeCommunicator>(this, rank);
}

void FakeCollectiveHub::Break() {
  absl::MutexLock lock(&mu_);
  broken_ = true;
}

int64_t FakeCollectiveHub::completed() const {
  absl::MutexLock lock(&mu_);
  return completed_;
}

absl::Status FakeCollectiveHub::Exchange(int rank, Kind kind, const at::Tensor& input,
                                         std::vector<at::Tensor>* all_inputs) {
  absl::MutexLock lock(&mu_);
  absl::Time deadline = absl::Now() + absl::FromChrono(timeout_);
  auto fail = [&](const char* why) {
    return absl::UnavailableError(absl::StrCat("fake collective failed on rank ", rank, ": ", why));
  };
  // Wait for the previous round to be fully collected before contributing to the next.
  auto round_open = [this] {
    mu_.AssertHeld();
    return broken_ || departed_ == 0;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&round_open), deadline)) return fail("timeout");
  if (broken_) return fail("a peer failed");
  if (arrived_ == 0) kind_ = kind;
  if (kind_ != kind) return fail("ranks issued different collectives");
  inputs_[rank] = input.detach().clone();
  ++arrived_;
  const int64_t my_round = round_;
  auto all_arrived = [this, my_round] {
    mu_.AssertHeld();
    return broken_ || round_ != my_round || arrived_ == world_size_;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&all_arrived), deadline)) {
    broken_ = true;  // a rank that never came leaves the group unusable, as in Gloo
    return fail("timeout waiting for peers");
  }
  if (broken_) return fail("a peer failed");
  *all_inputs = inputs_;
  if (++departed_ == world_size_) {
    arrived_ = 0;
    departed_ = 0;
    ++round_;
    ++completed_;
  }
  return absl::OkStatus();
}

}  // namespace murmur::worker
