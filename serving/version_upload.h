// A version being pushed (RepositoryService.PushVersion): files arrive in order as chunks into
// a staging directory the repository provides (invisible to polling), each hashed as it is
// written. Commit checks sizes and sha256 and hands the directory to the repository
// (ModelRepository::AddVersion), which renames it into place and loads it, so the version takes
// traffic before Commit returns. A version that then fails to load is removed again and
// reported; the serving versions are untouched.
//
// Not thread-safe: one RPC drives one upload. Destroying an uncommitted upload removes its
// staging directory. Borrows the repository, which must outlive it.
#ifndef MURMUR_SERVING_VERSION_UPLOAD_H_
#define MURMUR_SERVING_VERSION_UPLOAD_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/sha256.h"
#include "serving/model_repository.h"

namespace murmur::serving {

// One file of an upload, as the pusher declares it.
struct UploadFile {
  std::string name;
  uint64_t size = 0;
  std::string sha256;  // lowercase hex
};

class VersionUpload {
 public:
  // Starts a push of `version` (0: one more than the newest on disk at Commit) of `model` (""
  // = the default model). INVALID_ARGUMENT for a bad name or declaration (no files, a file
  // twice, a malformed sha256, more than the repository's max_upload_bytes in all),
  // ALREADY_EXISTS when the version is on disk already.
  static absl::StatusOr<std::unique_ptr<VersionUpload>> Begin(ModelRepository* repository,
                                                              const std::string& model,
                                                              int64_t version,
                                                              std::vector<UploadFile> files);
  ~VersionUpload();
  VersionUpload(const VersionUpload&) = delete;
  VersionUpload& operator=(const VersionUpload&) = delete;

  // Appends `data` at `offset` of file `name`; files must come in the declared order, each
  // contiguous. INVALID_ARGUMENT for out-of-order data or more bytes than declared.
  absl::Status Write(const std::string& name, uint64_t offset, std::string_view data);
  // DATA_LOSS naming the file when a size or sha256 differs from the declaration;
  // FAILED_PRECONDITION with the loader's reason when the version does not load.
  absl::StatusOr<VersionStatus> Commit();

 private:
  VersionUpload(ModelRepository* repository, std::string model, int64_t version,
                std::vector<UploadFile> files, std::string staging);
  absl::Status OpenNext();
  absl::Status CloseCurrent();

  ModelRepository* const repository_;
  const std::string model_;
  const int64_t requested_version_;
  const std::vector<UploadFile> files_;
  const std::string staging_;
  size_t current_ = 0;        // index of the file being written
  uint64_t written_ = 0;      // bytes of the current file so far
  std::FILE* out_ = nullptr;  // the current file, when open
  Sha256Hasher hasher_;
  std::vector<std::string> digests_;  // of the files finished so far
  bool committed_ = false;            // the staging directory was handed to the repository
};

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_VERSION_UPLOAD_H_
