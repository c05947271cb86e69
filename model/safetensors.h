// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON header {"name": {"dtype", "shape", "data_offsets": [begin,
// end)}, "__metadata__": {string: string}}, then the raw little-endian tensor bytes, offsets
// relative to the end of the header. Pure data: it cannot run code, unlike pickle.
//
// This file knows nothing about torch (tensor_io.h adapts views to torch::Tensor), so code that
// only moves checkpoints around does not pay for torch headers.
#ifndef MURMUR_MODEL_SAFETENSORS_H_
#define MURMUR_MODEL_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/file.h"

namespace murmur::model {

enum class DType { kBool, kU8, kI8, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kF64, kI64, kU64 };

// "F32", "BF16", ... as in the header.
const char* DTypeName(DType dtype);
absl::StatusOr<DType> ParseDType(std::string_view name);
size_t DTypeSize(DType dtype);

// One tensor inside a file: borrowed bytes (valid while the owning SafetensorsFile lives).
// The bytes need not be aligned to the element size.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const;
};

// A validated, memory-mapped safetensors file. Opening checks everything that can be checked
// without knowing the model: header length within the file, JSON syntax, known dtypes,
// non-negative shapes, offsets inside the data and consistent with dtype and shape, no overlaps.
// Each error names the file and, where one is involved, the tensor.
//
// Owns its mapping; immutable after Open, so safe to read from many threads.
class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  const std::string& path() const { return path_; }
  // Tensors in data-offset order.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorView* Find(std::string_view name) const;
  // NOT_FOUND naming file and tensor when absent.
  absl::StatusOr<const TensorView*> Get(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::unique_ptr<MappedFile> file_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// Collects tensors (borrowed bytes) and metadata and writes one file. Tensors are laid out in
// the order added; the header is padded with spaces to a multiple of 8 bytes, as Hugging Face's
// writer does, so that data offsets stay aligned.
//
// Not thread-safe. The bytes passed to Add must stay valid until Write returns.
class SafetensorsWriter {
 public:
  // INVALID_ARGUMENT on a duplicate or empty name, a reserved name (__metadata__) or when
  // `nbytes` disagrees with dtype and shape.
  absl::Status Add(std::string name, DType dtype, std::vector<int64_t> shape, const void* data,
                   size_t nbytes);
  void SetMetadata(std::string key, std::string value) { metadata_[std::move(key)] = value; }

  // Writes to `path` through a temporary file, fsync and rename: readers never see a torn file.
  absl::Status Write(const std::string& path) const;
  // The whole file as bytes (small files, tests).
  std::string Serialize() const;

 private:
  std::string Header() const;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace murmur::model

#endif  // MURMUR_MODEL_SAFETENSORS_H_
