// Files: whole-file reads, atomic writes and read-only memory maps.
//
// Every function reports failure as an absl::Status that names the path and the errno text, so
// callers can pass it on unchanged. All functions are thread-safe (they share no state).
#ifndef MURMUR_BASE_FILE_H_
#define MURMUR_BASE_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace murmur {

absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `contents` to a temporary file beside `path`, fsyncs it and renames it over `path`, so a
// reader sees either the old or the new file, never a torn one (also after a crash).
absl::Status WriteFileAtomically(const std::string& path, std::string_view contents);

// Creates `path` and its missing parents (like mkdir -p).
absl::Status MakeDirectories(const std::string& path);

bool PathExists(const std::string& path);

// `path` made absolute against the current directory (for children that run elsewhere, e.g.
// through `ip netns exec`); an absolute or empty path is returned as it is.
std::string AbsolutePath(const std::string& path);

// Size and modification time (nanoseconds since the epoch) of a regular file.
struct FileStat {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};
absl::StatusOr<FileStat> StatFile(const std::string& path);

// A read-only memory map of a whole file. Owns the mapping; unmapped on destruction. The bytes
// stay valid while the object lives. Immutable after Open, so safe to read from many threads.
class MappedFile {
 public:
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::string_view view() const {
    return std::string_view(reinterpret_cast<const char*>(data_), size_);
  }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;  // nullptr for an empty file
  size_t size_;
};

}  // namespace murmur

#endif  // MURMUR_BASE_FILE_H_
