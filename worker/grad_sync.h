// Gradient synchronisation for data-parallel training, the way PyTorch DDP does it and then
// some:
//  - dense parameters are grouped into buckets (~bucket_bytes each, in reverse registration
//    order, which is roughly the order backward produces their gradients); a bucket's all-reduce
//    starts from an autograd hook as soon as its last gradient is ready, so communication
//    overlaps with the rest of backward. Buckets start in index order on every rank, so the
//    collectives line up across ranks whatever the hook order.
//  - the word-embedding table is synchronised row-sparse: only the rows some rank's batch
//    touched (the union of token ids, found with two small all-gathers) are all-reduced. The
//    30,522-row table dominates a small model's gradient; a step touches ~1-2k rows.
// Gradients are summed, not averaged: the trainer normalises the loss by the global number of
// samples in the step, so the sum is the global mean gradient whatever each rank's share.
//
// Owns its hooks' bookkeeping; borrows the parameters (they must outlive it) and, between Arm
// and Finish, the communicator. Used by the training thread only; the hooks run on autograd's
// thread during backward, which for CPU tensors is the thread that calls backward.
#ifndef MURMUR_WORKER_GRAD_SYNC_H_
#define MURMUR_WORKER_GRAD_SYNC_H_

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/communicator.h"
#include "worker/optimizer.h"

namespace murmur::worker {

struct GradSyncOptions {
  // Bucket size. Default 25 MiB (DDP's default).
  size_t bucket_bytes = 25u << 20;
  // Name of the parameter to synchronise row-sparse (empty: none). Default Hugging Face's
  // DistilBERT word embeddings.
  std::string sparse_parameter = "distilbert.embeddings.word_embeddings.weight";
};

struct GradSyncStats {
  int64_t dense_elements = 0;   // elements all-reduced in buckets
  int64_t sparse_rows = 0;      // embedding rows all-reduced
  double wait_seconds = 0;      // time Finish spent waiting for communication
};

class GradientSynchronizer {
 public:
  GradientSynchronizer(const NamedTensors& parameters, GradSyncOptions options = {});
  ~GradientSynchronizer();

  // The next backward is the last of the step: its hooks start all-reduces on `communicator`.
  void Arm(Communicator* communicator);
  // Waits for every bucket, writes the summed gradients into .grad(), then synchronises the
  // sparse parameter's rows touched by `token_ids` (this rank's ids of the whole step, any
  // shape, int). UNAVAILABLE when a collective failed (regroup).
  absl::Status Finish(const at::Tensor& token_ids, GradSyncStats* stats = nullptr);

  size_t num_buckets() const;
  // The sparse parameter's rows the last Finish synchronised (sorted int64; undefined before
  // the first, or without a sparse parameter). Every other row of its gradient is zero.
  const at::Tensor& synchronized_rows() const;

 private:
  struct Bucket;
  struct State;
  std::shared_ptr<State> state_;  // shared with the hooks, which may outlive nothing but us
};

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_GRAD_SYNC_H_
