// Adapter between safetensors files (safetensors.h, torch-free) and ATen tensors, and the
// training-state file format. Includes only <ATen/ATen.h>, not the torch C++ frontend.
//
// All functions are thread-safe (no shared state) and never throw: libtorch errors come back
// as statuses (torch_status.h).
#ifndef MURMUR_MODEL_TENSOR_IO_H_
#define MURMUR_MODEL_TENSOR_IO_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/safetensors.h"

namespace murmur::model {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

absl::StatusOr<at::ScalarType> ToScalarType(DType dtype);
absl::StatusOr<DType> ToDType(at::ScalarType type);

// A new tensor holding a copy of the view's bytes (the file may be unmapped afterwards).
absl::StatusOr<at::Tensor> ToTensor(const TensorView& view);

// Writes CPU tensors (made contiguous as needed) in the given order, atomically.
absl::Status SaveTensors(const std::string& path, const NamedTensors& tensors,
                         const std::map<std::string, std::string>& metadata);

// What a trainer needs to resume exactly: optimizer moments, scheduler position, RNG states,
// sampler cursor. murmur's trainer decides the names and the JSON schema; this is the container.
struct TrainingState {
  NamedTensors tensors;
  // Any JSON document (scheduler step, sampler cursor, ...). Default "{}".
  std::string json = "{}";
};

// training_state.safetensors: the tensors, plus the JSON under the metadata key
// "murmur_training_state".
absl::Status SaveTrainingState(const std::string& path, const TrainingState& state);
absl::StatusOr<TrainingState> LoadTrainingState(const std::string& path);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_TENSOR_IO_H_
