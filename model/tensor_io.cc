#include "model/tensor_io.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "model/torch_status.h"

namespace murmur::model {
namespace {

constexpr char kTrainingStateKey[] = "murmur_training_state";

struct TypePair {
  DType dtype;
  at::ScalarType type;
};
constexpr TypePair kTypes[] = {
    {DType::kBool, at::kBool},   {DType::kU8, at::kByte},      {DType::kI8, at::kChar},
    {DType::kI16, at::kShort},   {DType::kF16, at::kHalf},     {DType::kBF16, at::kBFloat16},
    {DType::kI32, at::kInt},     {DType::kF32, at::kFloat},    {DType::kF64, at::kDouble},
    {DType::kI64, at::kLong},
};

}  // namespace

absl::StatusOr<at::ScalarType> ToScalarType(DType dtype) {
  for (const TypePair& pair : kTypes) {
    if (pair.dtype == dtype) return pair.type;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("dtype ", DTypeName(dtype), " has no libtorch equivalent"));
}

absl::StatusOr<DType> ToDType(at::ScalarType type) {
  for (const TypePair& pair : kTypes) {
    if (pair.type == type) return pair.dtype;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("tensor type ", c10::toString(type), " cannot be stored in safetensors"));
}

absl::StatusOr<at::Tensor> ToTensor(const TensorView& view) {
  absl::StatusOr<at::ScalarType> type = ToScalarType(view.dtype);
  if (!type.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", view.name, "': ", std::string(type.status().message())));
  }
  return TorchCall(absl::StrCat("tensor '", view.name, "'"), [&]() {
    at::Tensor tensor = at::empty(view.shape, at::TensorOptions().dtype(*type));
    if (view.nbytes > 0) std::memcpy(tensor.data_ptr(), view.data, view.nbytes);
    return tensor;
  });
}

absl::Status SaveTensors(const std::string& path, const NamedTensors& tensors,
                         const std::map<std::string, std::string>& metadata) {
  return TorchCall(absl::StrCat("writing ", path), [&]() -> absl::Status {
    SafetensorsWriter writer;
    std::vector<at::Tensor> keep_alive;
    keep_alive.reserve(tensors.size());
    for (const auto& [name, tensor] : tensors) {
      absl::StatusOr<DType> dtype = ToDType(tensor.scalar_type());
      if (!dtype.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "': ",
                                                       std::string(dtype.status().message())));
      }
      at::Tensor contiguous = tensor.detach().cpu().contiguous();
      std::vector<int64_t> shape(contiguous.sizes().begin(), contiguous.sizes().end());
      absl::Status added = writer.Add(name, *dtype, std::move(shape), contiguous.data_ptr(),
                                      contiguous.numel() * contiguous.element_size());
      if (!added.ok()) return added;
      keep_alive.push_back(std::move(contiguous));
    }
    for (const auto& [key, value] : metadata) writer.SetMetadata(key, value);
    return writer.Write(path);
  });
}

absl::Status SaveTrainingState(const std::string& path, const TrainingState& state) {
  return SaveTensors(path, state.tensors, {{kTrainingStateKey, state.json}});
}

absl::StatusOr<TrainingState> LoadTrainingState(const std::string& path) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  if (!file.ok()) return file.status();
  TrainingState state;
  auto it = (*file)->metadata().find(kTrainingStateKey);
  if (it == (*file)->metadata().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no '", kTrainingStateKey, "' metadata; not a training state"));
  }
  state.json = it->second;
  for (const TensorView& view : (*file)->tensors()) {
    absl::StatusOr<at::Tensor> tensor = ToTensor(view);
    if (!tensor.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", std::string(tensor.status().message())));
    }
    state.tensors.emplace_back(view.name, std::move(*tensor));
  }
  return state;
}

}  // namespace murmur::model
