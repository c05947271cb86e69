// Checkpoint directories: the Hugging Face layout (config.json, vocab.txt, model.safetensors),
// optionally training_state.safetensors, and murmur_manifest.json recording the format version,
// checkpoint version, step, epoch, metrics, creation time and the size and sha256 of every
// other file. Directories appear atomically: files are written into a staging directory beside
// the target, hashed, the manifest written last, everything fsynced, then the staging directory
// is renamed into place, so a reader never sees a half-written checkpoint.
//
// torch-free: writing tensors is tensor_io.h's job; this file only arranges files.
#ifndef MURMUR_MODEL_CHECKPOINT_H_
#define MURMUR_MODEL_CHECKPOINT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace murmur::model {

// File names inside a checkpoint directory.
inline constexpr char kConfigFile[] = "config.json";
inline constexpr char kVocabFile[] = "vocab.txt";
inline constexpr char kWeightsFile[] = "model.safetensors";
inline constexpr char kTrainingStateFile[] = "training_state.safetensors";
inline constexpr char kManifestFile[] = "murmur_manifest.json";

// What the writer of a checkpoint says about it.
struct CheckpointInfo {
  // Checkpoint (model) version; serving uses it as the version number. Default 0.
  int64_t version = 0;
  // Optimizer steps and completed epochs so far. Default 0.
  int64_t step = 0;
  int64_t epoch = 0;
  // Evaluation metrics by name (e.g. "eval_accuracy"). Default none.
  std::map<std::string, double> metrics;
};

struct ManifestFile {
  uint64_t size = 0;
  std::string sha256;  // lowercase hex
};

struct Manifest {
  static constexpr int kFormatVersion = 1;
  int format_version = kFormatVersion;
  CheckpointInfo info;
  // Creation time, milliseconds since the Unix epoch, and the same as RFC 3339 UTC text.
  int64_t created_unix_ms = 0;
  std::string created;
  // Every file of the directory except the manifest itself, by name.
  std::map<std::string, ManifestFile> files;

  std::string ToJson() const;
  static absl::StatusOr<Manifest> FromJson(std::string_view json, std::string_view source);
};

// Reads `dir`/murmur_manifest.json (no hashing).
absl::StatusOr<Manifest> ReadManifest(const std::string& dir);

// Reads the manifest and checks every listed file's size and sha256 (DATA_LOSS naming the file
// on a mismatch, NOT_FOUND for a missing file). Costs one read of the whole checkpoint.
absl::StatusOr<Manifest> VerifyCheckpoint(const std::string& dir);

// Builds one checkpoint directory. Create makes the staging directory `<dir>.staging.<pid>.<n>`;
// the caller writes files into it (staging_path(name)), then Commit hashes them, writes the
// manifest and renames the staging directory to `dir`. Destroying an uncommitted writer removes
// the staging directory.
//
// Not thread-safe; one writer per checkpoint.
class CheckpointWriter {
 public:
  struct Options {
    // The checkpoint directory to create. Required. Its parent is created if missing.
    std::string dir;
    // Replace an existing `dir` (the old one is removed only after the new one is in place).
    // Default false: an existing `dir` is ALREADY_EXISTS.
    bool overwrite = false;
  };
  static absl::StatusOr<std::unique_ptr<CheckpointWriter>> Create(Options options);
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Where to write file `name` (a plain file name, no '/').
  std::string staging_path(std::string_view name) const;
  // Writes a small file into the staging directory.
  absl::Status WriteFile(std::string_view name, std::string_view contents);
  // Copies an existing file (e.g. the vocab.txt in use) into the staging directory.
  absl::Status CopyFile(const std::string& source, std::string_view name);

  // Hashes every staged file, writes the manifest, fsyncs and renames into place. After Commit
  // the writer is spent.
  absl::StatusOr<Manifest> Commit(const CheckpointInfo& info);

 private:
  explicit CheckpointWriter(Options options, std::string staging)
      : options_(std::move(options)), staging_(std::move(staging)) {}
  Options options_;
  std::string staging_;
  bool committed_ = false;
};

// Removes a directory tree (best effort used for cleanup; returns the first error).
absl::Status RemoveTree(const std::string& path);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_CHECKPOINT_H_
