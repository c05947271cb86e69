#include "worker/nccl_communicator.h"

#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <nccl.h>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"

namespace murmur::worker {
namespace {

absl::StatusOr<ncclDataType_t> NcclType(const at::Tensor& tensor) {
  switch (tensor.scalar_type()) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kHalf: return ncclFloat16;
    case at::kBFloat16: return ncclBfloat16;
    case at::kLong: return ncclInt64;
    case at::kInt: return ncclInt32;
    case at::kByte: return ncclUint8;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("nccl: unsupported dtype ", c10::toString(tensor.scalar_type())));
  }
}

absl::Status NcclError(const char* what, ncclResult_t result) {
  return absl::UnavailableError(absl::StrCat("nccl ", what, ": ", ncclGetErrorString(result)));
}

// Shared by the communicator and its work items: aborting must reach every pending wait.
struct Shared {
  int device = 0;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  std::chrono::milliseconds timeout;
  bool aborted = false;
  // Set by Abort() from another thread; the waiting thread then aborts the communicator.
  std::atomic<bool> abort_requested{false};
  ~Shared() {
    if (comm != nullptr) {
      if (aborted) ncclCommAbort(comm); else ncclCommDestroy(comm);
    }
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
};

class NcclWork final : public CollectiveWork {
 public:
  NcclWork(std::shared_ptr<Shared> shared, cudaEvent_t done, const char* what,
           std::function<void()> after)
      : shared_(std::move(shared)), done_(done), what_(what), after_(std::move(after)) {}
  ~NcclWork() override { cudaEventDestroy(done_); }

  absl::Status Wait() override {
    auto deadline = std::chrono::steady_clock::now() + shared_->timeout;
    while (true) {
      if (shared_->aborted) return absl::UnavailableError("nccl communicator aborted");
      cudaError_t state = cudaEventQuery(done_);
      if (state == cudaSuccess) break;
      if (state != cudaErrorNotReady) {
        return absl::UnavailableError(absl::StrCat("nccl ", what_, ": ", cudaGetErrorString(state)));
      }
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(shared_->comm, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        shared_->aborted = true;
        return NcclError(what_, async);
      }
      if (shared_->abort_requested.load() || std::chrono::steady_clock::now() > deadline) {
        // A peer died mid-collective: abort so the GPU does not spin forever.
        shared_->aborted = true;
        ncclCommAbort(shared_->comm);
        shared_->comm = nullptr;
        return absl::UnavailableError(absl::StrCat(
            "nccl ", what_, shared_->abort_requested.load() ? " aborted" : " timed out"));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (after_) after_();
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<Shared> shared_;
  cudaEvent_t done_;
  const char* what_;
  std::function<void()> after_;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::shared_ptr<Shared> shared, int rank, int world_size)
      : shared_(std::move(shared)), rank_(rank), world_size_(world_size) {}

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::string backend() const override { return "nccl"; }
  void Abort() override { shared_->abort_requested.store(true); }

  std::unique_ptr<CollectiveWork> AllReduce(at::Tensor tensor, ReduceOp op) override {
    auto type = NcclType(tensor);
    if (!type.ok()) return FinishedWork(type.status());
    at::Tensor staged = OnDevice(tensor);
    return Launch("all-reduce", [&] {
      return ncclAllReduce(staged.data_ptr(), staged.data_ptr(), staged.numel(), *type,
                           op == ReduceOp::kSum ? ncclSum : ncclMax, shared_->comm,
                           shared_->stream);
    }, CopyBack(tensor, staged));
  }

  std::unique_ptr<CollectiveWork> Broadcast(at::Tensor tensor, int root) override {
    auto type = NcclType(tensor);
    if (!type.ok()) return FinishedWork(type.status());
    at::Tensor staged = OnDevice(tensor);
    return Launch("broadcast", [&] {
      return ncclBroadcast(staged.data_ptr(), staged.data_ptr(), staged.numel(), *type, root,
                           shared_->comm, shared_->stream);
    }, CopyBack(tensor, staged));
  }

  std::unique_ptr<CollectiveWork> AllGather(at::Tensor input,
                                            std::vector<at::Tensor> outputs) override {
    auto type = NcclType(input);
    if (!type.ok()) return FinishedWork(type.status());
    at::Tensor staged = OnDevice(input);
    // NCCL gathers into one contiguous buffer; copy the slices out once it is done.
    at::Tensor gathered = at::empty({world_size_ * input.numel()}, staged.options());
    return Launch("all-gather", [&] {
      return ncclAllGather(staged.data_ptr(), gathered.data_ptr(), staged.numel(), *type,
                           shared_->comm, shared_->stream);
    }, [staged, gathered, outputs, n = input.numel()]() mutable {
      for (size_t r = 0; r < outputs.size(); ++r) {
        outputs[r].copy_(gathered.narrow(0, r * n, n).view_as(outputs[r]));
      }
    });
  }

 private:
  // CPU tensors (loss sums, evaluation counts, token-id lists: small) travel through the GPU,
  // so the trainer needs no device-specific code for them.
  at::Tensor OnDevice(const at::Tensor& tensor) const {
    if (tensor.is_cuda() && tensor.is_contiguous()) return tensor;
    return tensor.to(at::Device(at::kCUDA, shared_->device), /*non_blocking=*/false,
                     /*copy=*/false, at::MemoryFormat::Contiguous);
  }

  // Runs when the collective is done: results of a staged tensor go back to the caller's
  // tensor. Holding `staged` also keeps its memory from being reused while NCCL works on it.
  static std::function<void()> CopyBack(at::Tensor tensor, at::Tensor staged) {
    return [tensor, staged]() mutable {
      if (!tensor.is_same(staged)) tensor.copy_(staged.view_as(tensor));
    };
  }

  template <typename F>
  std::unique_ptr<CollectiveWork> Launch(const char* what, F&& call, std::function<void()> after) {
    if (shared_->aborted || shared_->comm == nullptr) {
      return FinishedWork(absl::UnavailableError("nccl communicator aborted"));
    }
    // The inputs were written by kernels on the caller's current stream (backward, the
    // staging copy): the collective's stream must not start before they are done.
    cudaEvent_t inputs_ready;
    cudaEventCreateWithFlags(&inputs_ready, cudaEventDisableTiming);
    cudaEventRecord(inputs_ready, c10::cuda::getCurrentCUDAStream(shared_->device).stream());
    cudaStreamWaitEvent(shared_->stream, inputs_ready, 0);
    cudaEventDestroy(inputs_ready);
    ncclResult_t result = call();
    if (result != ncclSuccess) return FinishedWork(NcclError(what, result));
    cudaEvent_t done;
    cudaEventCreateWithFlags(&done, cudaEventDisableTiming);
    cudaEventRecord(done, shared_->stream);
    return std::make_unique<NcclWork>(shared_, done, what, std::move(after));
  }

  std::shared_ptr<Shared> shared_;
  int rank_;
  int world_size_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(
    c10::intrusive_ptr<c10d::Store> store, int rank, int world_size, const NcclOptions& options) {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", rank, " is outside a world of ", world_size));
  }
  if (cudaSetDevice(options.device) != cudaSuccess) {
    return absl::FailedPreconditionError(absl::StrCat("no CUDA device ", options.device));
  }
  const std::string key = options.store_prefix + "nccl_unique_id";
  ncclUniqueId id;
  try {
    if (rank == 0) {
      ncclResult_t result = ncclGetUniqueId(&id);
      if (result != ncclSuccess) return NcclError("get unique id", result);
      store->set(key, std::vector<uint8_t>(reinterpret_cast<uint8_t*>(&id),
                                           reinterpret_cast<uint8_t*>(&id) + sizeof(id)));
    } else {
      store->wait({key}, options.timeout);
      std::vector<uint8_t> bytes = store->get(key);
      if (bytes.size() != sizeof(id)) return absl::InternalError("nccl: malformed unique id");
      std::memcpy(&id, bytes.data(), sizeof(id));
    }
  } catch (const std::exception& error) {
    return absl::UnavailableError(absl::StrCat("nccl rendezvous: ", error.what()));
  }
  auto shared = std::make_shared<Shared>();
  shared->device = options.device;
  shared->timeout = options.timeout;
  cudaStreamCreateWithFlags(&shared->stream, cudaStreamNonBlocking);
  ncclResult_t result = ncclCommInitRank(&shared->comm, world_size, id, rank);
  if (result != ncclSuccess) {
    shared->comm = nullptr;
    return NcclError("init", result);
  }
  return std::unique_ptr<Communicator>(new NcclCommunicator(std::move(shared), rank, world_size));
}

}  // namespace murmur::worker
