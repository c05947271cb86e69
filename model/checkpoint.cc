#include "model/checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/sha256.h"
#include "nlohmann/json.hpp"

namespace murmur::model {
namespace {

using Json = nlohmann::json;

constexpr char kFormatName[] = "murmur-checkpoint";

absl::Status Errno(std::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(std::string(what), " ", path, ": ", std::strerror(errno)));
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Errno("cannot list", dir);
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(d)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

absl::Status FsyncPath(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok ? absl::OkStatus() : Errno("cannot fsync", path);
}

std::string Parent(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string Rfc3339(int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm;
  ::gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buffer, static_cast<int>(unix_ms % 1000));
  return out;
}

}  // namespace

std::string Manifest::ToJson() const {
  Json json;
  json["format"] = kFormatName;
  json["format_version"] = format_version;
  json["version"] = info.version;
  json["step"] = info.step;
  json["epoch"] = info.epoch;
  json["metrics"] = Json::object();
  for (const auto& [name, value] : info.metrics) json["metrics"][name] = value;
  json["created"] = created;
  json["created_unix_ms"] = created_unix_ms;
  json["files"] = Json::object();
  for (const auto& [name, file] : files) {
    json["files"][name] = {{"size", file.size}, {"sha256", file.sha256}};
  }
  return json.dump(2) + "\n";
}

absl::StatusOr<Manifest> Manifest::FromJson(std::string_view text, std::string_view source) {
  auto error = [&](std::string_view message) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ": ", std::string(message)));
  };
  Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return error("not a JSON object");
  if (json.value("format", "") != kFormatName) return error("not a murmur checkpoint manifest");
  Manifest manifest;
  try {
    manifest.format_version = json.at("format_version").get<int>();
    if (manifest.format_version > kFormatVersion) {
      return error(absl::StrCat("format_version ", manifest.format_version,
                                " is newer than this program understands (", kFormatVersion,
                                ")"));
    }
    manifest.info.version = json.at("version").get<int64_t>();
    manifest.info.step = json.at("step").get<int64_t>();
    manifest.info.epoch = json.at("epoch").get<int64_t>();
    for (const auto& [name, value] : json.at("metrics").items()) {
      manifest.info.metrics[name] = value.get<double>();
    }
    manifest.created = json.at("created").get<std::string>();
    manifest.created_unix_ms = json.at("created_unix_ms").get<int64_t>();
    for (const auto& [name, file] : json.at("files").items()) {
      if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
        return error(absl::StrCat("bad file name '", name, "'"));
      }
      ManifestFile entry;
      entry.size = file.at("size").get<uint64_t>();
      entry.sha256 = file.at("sha256").get<std::string>();
      manifest.files[name] = entry;
    }
  } catch (const Json::exception& e) {
    return error(absl::StrCat("malformed manifest: ", e.what()));
  }
  return manifest;
}

absl::StatusOr<Manifest> ReadManifest(const std::string& dir) {
  std::string path = absl::StrCat(dir, "/", kManifestFile);
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return Manifest::FromJson(*text, path);
}

absl::StatusOr<Manifest> VerifyCheckpoint(const std::string& dir) {
  absl::StatusOr<Manifest> manifest = ReadManifest(dir);
  if (!manifest.ok()) return manifest.status();
  for (const auto& [name, expected] : manifest->files) {
    std::string path = absl::StrCat(dir, "/", name);
    absl::StatusOr<FileStat> stat = StatFile(path);
    if (!stat.ok()) {
      return absl::NotFoundError(
          absl::StrCat(path, ": listed in ", kManifestFile, " but missing"));
    }
    if (stat->size != expected.size) {
      return absl::DataLossError(absl::StrCat(path, ": size ", stat->size, " but ", kManifestFile,
                                              " says ", expected.size));
    }
    absl::StatusOr<std::string> sha = Sha256FileHex(path);
    if (!sha.ok()) return sha.status();
    if (*sha != expected.sha256) {
      return absl::DataLossError(absl::StrCat(path, ": sha256 ", *sha, " does not match ",
                                              kManifestFile, " (", expected.sha256, ")"));
    }
  }
  return manifest;
}

absl::StatusOr<std::unique_ptr<CheckpointWriter>> CheckpointWriter::Create(Options options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("checkpoint dir is empty");
  while (options.dir.size() > 1 && options.dir.back() == '/') options.dir.pop_back();
  if (PathExists(options.dir) && !options.overwrite) {
    return absl::AlreadyExistsError(absl::StrCat("checkpoint ", options.dir, " already exists"));
  }
  if (absl::Status status = MakeDirectories(Parent(options.dir)); !status.ok()) return status;
  static std::atomic<int> counter{0};
  std::string staging = absl::StrCat(options.dir, ".staging.", ::getpid(), ".", counter++);
  if (PathExists(staging)) {
    if (absl::Status status = RemoveTree(staging); !status.ok()) return status;
  }
  if (::mkdir(staging.c_str(), 0755) != 0) return Errno("cannot create directory", staging);
  return std::unique_ptr<CheckpointWriter>(new CheckpointWriter(std::move(options), staging));
}

CheckpointWriter::~CheckpointWriter() {
  if (!committed_) RemoveTree(staging_).IgnoreError();
}

std::string CheckpointWriter::staging_path(std::string_view name) const {
  return absl::StrCat(staging_, "/", std::string(name));
}

absl::Status CheckpointWriter::WriteFile(std::string_view name, std::string_view contents) {
  return WriteFileAtomically(staging_path(name), contents);
}

absl::Status CheckpointWriter::CopyFile(const std::string& source, std::string_view name) {
  absl::StatusOr<std::string> contents = ReadFile(source);
  if (!contents.ok()) return contents.status();
  return WriteFile(name, *contents);
}

absl::StatusOr<Manifest> CheckpointWriter::Commit(const CheckpointInfo& info) {
  if (committed_) return absl::FailedPreconditionError("checkpoint already committed");
  Manifest manifest;
  manifest.info = info;
  manifest.created_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  manifest.created = Rfc3339(manifest.created_unix_ms);
  absl::StatusOr<std::vector<std::string>> names = ListDir(staging_);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (name == kManifestFile) continue;
    std::string path = staging_path(name);
    absl::StatusOr<FileStat> stat = StatFile(path);
    if (!stat.ok()) return stat.status();
    absl::StatusOr<std::string> sha = Sha256FileHex(path);
    if (!sha.ok()) return sha.status();
    manifest.files[name] = ManifestFile{stat->size, *sha};
    // The files were written by callers that may not have synced them.
    if (absl::Status status = FsyncPath(path, false); !status.ok()) return status;
  }
  if (absl::Status status = WriteFile(kManifestFile, manifest.ToJson()); !status.ok()) {
    return status;
  }
  if (absl::Status status = FsyncPath(staging_, true); !status.ok()) return status;

  std::string old;
  if (PathExists(options_.dir)) {
    if (!options_.overwrite) {
      return absl::AlreadyExistsError(
          absl::StrCat("checkpoint ", options_.dir, " already exists"));
    }
    old = absl::StrCat(staging_, ".old");
    if (::rename(options_.dir.c_str(), old.c_str()) != 0) return Errno("cannot move", options_.dir);
  }
  if (::rename(staging_.c_str(), options_.dir.c_str()) != 0) {
    return Errno("cannot rename into place", options_.dir);
  }
  committed_ = true;
  if (absl::Status status = FsyncPath(Parent(options_.dir), true); !status.ok()) return status;
  if (!old.empty()) RemoveTree(old).IgnoreError();
  return manifest;
}

absl::Status RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? absl::OkStatus() : Errno("cannot stat", path);
  }
  if (S_ISDIR(st.st_mode)) {
    absl::StatusOr<std::vector<std::string>> names = ListDir(path);
    if (!names.ok()) return names.status();
    for (const std::string& name : *names) {
      if (absl::Status status = RemoveTree(absl::StrCat(path, "/", name)); !status.ok()) {
        return status;
      }
    }
    if (::rmdir(path.c_str()) != 0) return Errno("cannot remove", path);
    return absl::OkStatus();
  }
  if (::unlink(path.c_str()) != 0) return Errno("cannot remove", path);
  return absl::OkStatus();
}

}  // namespace murmur::model
