// A c10d::Store backed by the coordinator's key-value RPCs, so that the ranks of a generation
// rendezvous (Gloo addresses, NCCL unique ids) through the coordinator they already talk to: no
// extra port, no shared filesystem. Like c10d's TCPStore, `get` and `wait` block until the keys
// exist or the store's timeout passes.
//
// Borrows nothing: holds its own stub on a shared channel. Thread-safe (gRPC stubs are).
#ifndef MURMUR_WORKER_COORDINATOR_STORE_H_
#define MURMUR_WORKER_COORDINATOR_STORE_H_

#include <grpcpp/grpcpp.h>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/version.h>

#include <memory>

#include "proto/coordinator.grpc.pb.h"

namespace murmur::worker {

class CoordinatorStore : public c10d::Store {
 public:
  explicit CoordinatorStore(std::shared_ptr<grpc::Channel> channel,
                            std::chrono::milliseconds timeout = std::chrono::seconds(30));

  void set(const std::string& key, const std::vector<uint8_t>& value) override;
  std::vector<uint8_t> get(const std::string& key) override;
  int64_t add(const std::string& key, int64_t value) override;
  bool deleteKey(const std::string& key) override;
  bool check(const std::vector<std::string>& keys) override;
  int64_t getNumKeys() override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;
#if TORCH_VERSION_MAJOR >= 2
  // libtorch 2 asks stores for an independent copy (same coordinator, same timeout).
  c10::intrusive_ptr<c10d::Store> clone() override;
#endif

 private:
  // c10d expects failures as exceptions (it is called from inside ProcessGroupGloo); they are
  // caught and turned into absl::Status in gloo_communicator.cc.
  [[noreturn]] static void Fail(const char* what, const grpc::Status& status);
  std::vector<uint8_t> Get(const std::vector<std::string>& keys,
                           std::chrono::milliseconds timeout, bool wait_only);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerCoordination::Stub> stub_;
};

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_COORDINATOR_STORE_H_
