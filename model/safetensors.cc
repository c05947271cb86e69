#include "model/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace murmur::model {
namespace {

using Json = nlohmann::json;

// Hugging Face's reader refuses headers above 100 MB; so do we (a corrupt length must not make
// us parse gigabytes).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kBool, "BOOL", 1}, {DType::kU8, "U8", 1},     {DType::kI8, "I8", 1},
    {DType::kI16, "I16", 2},   {DType::kU16, "U16", 2},   {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI32, "I32", 4},   {DType::kU32, "U32", 4},
    {DType::kF32, "F32", 4},   {DType::kF64, "F64", 8},   {DType::kI64, "I64", 8},
    {DType::kU64, "U64", 8},
};

absl::Status FileError(const std::string& path, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", std::string(message)));
}

absl::Status TensorError(const std::string& path, std::string_view tensor,
                         std::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": tensor '", std::string(tensor), "': ", std::string(message)));
}

// Element count of `shape`, or false on a negative dimension or overflow.
bool CheckedNumel(const std::vector<int64_t>& shape, uint64_t* numel) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  }
  *numel = n;
  return true;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) absl::StrAppend(&out, i ? ", " : "", shape[i]);
  return out + "]";
}

}  // namespace

const char* DTypeName(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info.name;
  }
  return "?";
}

absl::StatusOr<DType> ParseDType(std::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (name == info.name) return info.dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype '", std::string(name), "'"));
}

size_t DTypeSize(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info.size;
  }
  return 0;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  absl::StatusOr<std::unique_ptr<MappedFile>> mapped = MappedFile::Open(path);
  if (!mapped.ok()) return mapped.status();
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->file_ = std::move(*mapped);
  const uint8_t* bytes = file->file_->data();
  const uint64_t size = file->file_->size();

  if (size < 8) {
    return FileError(path, absl::StrCat("truncated: ", size, " bytes, less than the 8-byte "
                                        "header length"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > size - 8) {
    return FileError(path, absl::StrCat("header length ", header_len,
                                        " is larger than the file (", size, " bytes)"));
  }
  if (header_len > kMaxHeaderBytes) {
    return FileError(path, absl::StrCat("header length ", header_len, " exceeds the limit of ",
                                        kMaxHeaderBytes, " bytes"));
  }
  const char* header_begin = reinterpret_cast<const char*>(bytes + 8);
  Json header = Json::parse(header_begin, header_begin + header_len, nullptr,
                            /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return FileError(path, "header is not a JSON object");
  }
  const uint8_t* data = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return FileError(path, "__metadata__ is not an object");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) {
          return FileError(path, absl::StrCat("__metadata__ value of '", key,
                                              "' is not a string"));
        }
        file->metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) return TensorError(path, name, "entry is not an object");
    TensorView view;
    view.name = name;
    auto dtype = entry.find("dtype");
    if (dtype == entry.end() || !dtype->is_string()) {
      return TensorError(path, name, "missing dtype");
    }
    absl::StatusOr<DType> parsed = ParseDType(dtype->get<std::string>());
    if (!parsed.ok()) return TensorError(path, name, std::string(parsed.status().message()));
    view.dtype = *parsed;
    auto shape = entry.find("shape");
    if (shape == entry.end() || !shape->is_array()) {
      return TensorError(path, name, "missing shape");
    }
    for (const Json& dim : *shape) {
      if (!dim.is_number_integer() || dim.get<int64_t>() < 0) {
        return TensorError(path, name, absl::StrCat("bad shape ", shape->dump()));
      }
      view.shape.push_back(dim.get<int64_t>());
    }
    auto offsets = entry.find("data_offsets");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
        !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
      return TensorError(path, name, "data_offsets is not [begin, end]");
    }
    uint64_t begin = (*offsets)[0].get<uint64_t>(), end = (*offsets)[1].get<uint64_t>();
    if (begin > end) {
      return TensorError(path, name, absl::StrCat("data_offsets [", begin, ", ", end,
                                                  ") end before begin"));
    }
    if (end > data_size) {
      return TensorError(path, name,
                         absl::StrCat("data_offsets [", begin, ", ", end,
                                      ") outside the data (", data_size,
                                      " bytes): truncated file or bad header"));
    }
    uint64_t numel = 0, expected = 0;
    if (!CheckedNumel(view.shape, &numel) ||
        __builtin_mul_overflow(numel, DTypeSize(view.dtype), &expected) ||
        end - begin != expected) {
      return TensorError(path, name,
                         absl::StrCat("data_offsets [", begin, ", ", end, ") hold ", end - begin,
                                      " bytes but ", DTypeName(view.dtype), " ",
                                      ShapeString(view.shape), " needs ", expected));
    }
    view.data = data + begin;
    view.nbytes = end - begin;
    file->tensors_.push_back(std::move(view));
  }
  std::sort(file->tensors_.begin(), file->tensors_.end(),
            [data](const TensorView& a, const TensorView& b) {
              return a.data != b.data ? a.data < b.data : a.nbytes < b.nbytes;
            });
  for (size_t i = 1; i < file->tensors_.size(); ++i) {
    const TensorView& prev = file->tensors_[i - 1];
    const TensorView& cur = file->tensors_[i];
    if (cur.data < prev.data + prev.nbytes) {
      return TensorError(path, cur.name,
                         absl::StrCat("data overlaps tensor '", prev.name, "'"));
    }
  }
  for (size_t i = 0; i < file->tensors_.size(); ++i) {
    file->index_[file->tensors_[i].name] = i;
  }
  return file;
}

const TensorView* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<const TensorView*> SafetensorsFile::Get(std::string_view name) const {
  if (const TensorView* view = Find(name)) return view;
  return absl::NotFoundError(
      absl::StrCat(path_, ": missing tensor '", std::string(name), "'"));
}

absl::Status SafetensorsWriter::Add(std::string name, DType dtype, std::vector<int64_t> shape,
                                    const void* data, size_t nbytes) {
  if (name.empty() || name == "__metadata__") {
    return absl::InvalidArgumentError(absl::StrCat("bad tensor name '", name, "'"));
  }
  for (const TensorView& view : tensors_) {
    if (view.name == name) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate tensor '", name, "'"));
    }
  }
  uint64_t numel = 0, expected = 0;
  if (!CheckedNumel(shape, &numel) || __builtin_mul_overflow(numel, DTypeSize(dtype), &expected) ||
      expected != nbytes) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': ", nbytes,
                                                   " bytes do not match ", DTypeName(dtype), " ",
                                                   ShapeString(shape)));
  }
  TensorView view;
  view.name = std::move(name);
  view.dtype = dtype;
  view.shape = std::move(shape);
  view.data = static_cast<const uint8_t*>(data);
  view.nbytes = nbytes;
  tensors_.push_back(std::move(view));
  return absl::OkStatus();
}

std::string SafetensorsWriter::Header() const {
  // nlohmann's default object sorts keys; the order of entries carries no meaning in the format.
  Json header = Json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const TensorView& view : tensors_) {
    header[view.name] = {{"dtype", std::string(DTypeName(view.dtype))},
                         {"shape", view.shape},
                         {"data_offsets", {offset, offset + view.nbytes}}};
    offset += view.nbytes;
  }
  std::string text = header.dump();
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  std::string out(8, '\0');
  uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  return out + text;
}

std::string SafetensorsWriter::Serialize() const {
  std::string out = Header();
  for (const TensorView& view : tensors_) {
    out.append(reinterpret_cast<const char*>(view.data), view.nbytes);
  }
  return out;
}

absl::Status SafetensorsWriter::Write(const std::string& path) const {
  // Streams the tensors instead of building the file in memory (a base checkpoint is 268 MB),
  // otherwise the same protocol as WriteFileAtomically.
  std::string temp = absl::StrCat(path, ".tmp.", ::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot create ", temp, ": ", std::strerror(errno)));
  }
  auto write_all = [fd](const void* bytes, size_t size) {
    const char* p = static_cast<const char*>(bytes);
    while (size > 0) {
      ssize_t n = ::write(fd, p, std::min<size_t>(size, 1 << 30));
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      p += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  };
  std::string header = Header();
  bool ok = write_all(header.data(), header.size());
  for (size_t i = 0; ok && i < tensors_.size(); ++i) {
    ok = write_all(tensors_[i].data, tensors_[i].nbytes);
  }
  ok = ok && ::fsync(fd) == 0;
  int saved_errno = errno;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
    if (ok) saved_errno = errno;
    ::unlink(temp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(saved_errno)));
  }
  return absl::OkStatus();
}

}  // namespace murmur::model
