#include "serving/version_upload.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace murmur::serving {

absl::StatusOr<std::unique_ptr<VersionUpload>> VersionUpload::Begin(
    ModelRepository* repository, const std::string& model, int64_t version,
    std::vector<UploadFile> files) {
  if (version < 0) return absl::InvalidArgumentError("version must not be negative");
  if (files.empty()) return absl::InvalidArgumentError("an upload needs at least one file");
  std::set<std::string> names;
  uint64_t total = 0;
  for (const UploadFile& file : files) {
    if (absl::Status s = CheckEntryName("file", file.name); !s.ok()) return s;
    if (!names.insert(file.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("file '", file.name, "' declared twice"));
    }
    if (file.sha256.size() != 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("file '", file.name, "': sha256 must be 64 hex digits"));
    }
    total += file.size;
  }
  const uint64_t limit = repository->options().max_upload_bytes;
  if (total > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("upload of ", total, " bytes exceeds the ", limit, "-byte limit"));
  }
  absl::StatusOr<std::string> staging = repository->CreateStagingDirectory(model, version);
  if (!staging.ok()) return staging.status();
  return std::unique_ptr<VersionUpload>(new VersionUpload(
      repository, repository->ResolveModel(model), version, std::move(files), *staging));
}

VersionUpload::VersionUpload(ModelRepository* repository, std::string model, int64_t version,
                             std::vector<UploadFile> files, std::string staging)
    : repository_(repository),
      model_(std::move(model)),
      requested_version_(version),
      files_(std::move(files)),
      staging_(std::move(staging)) {}

VersionUpload::~VersionUpload() {
  if (out_ != nullptr) std::fclose(out_);
  if (!committed_) {
    std::error_code error;
    std::filesystem::remove_all(staging_, error);
  }
}

absl::Status VersionUpload::OpenNext() {
  const std::string path = staging_ + "/" + files_[current_].name;
  out_ = std::fopen(path.c_str(), "wb");
  if (out_ == nullptr) {
    return absl::InternalError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status VersionUpload::CloseCurrent() {
  if (out_ == nullptr) {
    if (absl::Status s = OpenNext(); !s.ok()) return s;  // an empty file: create it
  }
  const bool ok = std::fflush(out_) == 0 && ::fsync(fileno(out_)) == 0;
  const bool closed = std::fclose(out_) == 0;
  out_ = nullptr;
  if (!ok || !closed) {
    return absl::InternalError(
        absl::StrCat("writing ", files_[current_].name, ": ", std::strerror(errno)));
  }
  digests_.push_back(hasher_.FinishHex());
  ++current_;
  written_ = 0;
  return absl::OkStatus();
}

absl::Status VersionUpload::Write(const std::string& name, uint64_t offset,
                                  std::string_view data) {
  if (committed_) return absl::FailedPreconditionError("upload already committed");
  while (current_ < files_.size() && files_[current_].name != name) {
    if (written_ != files_[current_].size) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk of '", name, "' arrived before '", files_[current_].name,
                       "' was complete (", written_, " of ", files_[current_].size, " bytes)"));
    }
    if (absl::Status s = CloseCurrent(); !s.ok()) return s;
  }
  if (current_ == files_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk of '", name, "', which is undeclared or already complete"));
  }
  const UploadFile& file = files_[current_];
  if (offset != written_) {
    return absl::InvalidArgumentError(absl::StrCat("chunk of '", name, "' at offset ", offset,
                                                   ", expected ", written_));
  }
  if (written_ + data.size() > file.size) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' is longer than the declared ", file.size, " bytes"));
  }
  if (out_ == nullptr) {
    if (absl::Status s = OpenNext(); !s.ok()) return s;
  }
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), out_) != data.size()) {
    return absl::InternalError(absl::StrCat("writing ", name, ": ", std::strerror(errno)));
  }
  hasher_.Update(data);
  written_ += data.size();
  return absl::OkStatus();
}

absl::StatusOr<VersionStatus> VersionUpload::Commit() {
  if (committed_) return absl::FailedPreconditionError("upload already committed");
  while (current_ < files_.size()) {
    if (written_ != files_[current_].size) {
      return absl::DataLossError(absl::StrCat("'", files_[current_].name, "' is incomplete: ",
                                              written_, " of ", files_[current_].size,
                                              " bytes received"));
    }
    if (absl::Status s = CloseCurrent(); !s.ok()) return s;
  }
  for (size_t i = 0; i < files_.size(); ++i) {
    if (digests_[i] != absl::AsciiStrToLower(files_[i].sha256)) {
      return absl::DataLossError(absl::StrCat("'", files_[i].name,
                                              "': sha256 mismatch: received data hashes to ",
                                              digests_[i], ", declared ", files_[i].sha256));
    }
  }

  committed_ = true;
  return repository_->AddVersion(model_, requested_version_, staging_);
}

}  // namespace murmur::serving
