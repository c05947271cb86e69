#include "worker/communicator.h"

namespace murmur::worker {
namespace {

class Finished final : public CollectiveWork {
 public:
  explicit Finished(absl::Status status) : status_(std::move(status)) {}
  absl::Status Wait() override { return status_; }

 private:
  absl::Status status_;
};

}  // namespace

std::unique_ptr<CollectiveWork> FinishedWork(absl::Status status) {
  return std::make_unique<Finished>(std::move(status));
}

}  // namespace murmur::worker
