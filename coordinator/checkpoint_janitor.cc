#include "coordinator/checkpoint_janitor.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "base/logging.h"

namespace murmur::coordinator {

namespace fs = std::filesystem;

absl::Status DeleteCheckpointDirectory(const std::string& checkpoint_root,
                                       const std::string& path) {
  const fs::path root = fs::path(checkpoint_root).lexically_normal();
  const fs::path target = fs::path(path).lexically_normal();
  const std::string name = target.filename().string();
  if (target.parent_path() != root || name.empty() || name == "." || name == "..") {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a checkpoint directory of ", checkpoint_root,
                     ": not deleted"));
  }
  const fs::path deleting = fs::path(target.string() + ".deleting");
  std::error_code error;
  if (fs::exists(target, error)) {
    fs::rename(target, deleting, error);
    if (error) {
      return absl::InternalError(absl::StrCat("renaming ", path, ": ", error.message()));
    }
  }
  fs::remove_all(deleting, error);
  if (error) {
    return absl::InternalError(absl::StrCat("deleting ", deleting.string(), ": ", error.message()));
  }
  return absl::OkStatus();
}

void CheckpointJanitor::RunOnce() {
  for (const std::string& path : job_->PendingDeletions()) {
    const absl::Status deleted = DeleteCheckpointDirectory(checkpoint_root_, path);
    if (absl::IsFailedPrecondition(deleted)) {
      Logf("%s", deleted.message());
      job_->DeletionDone(path);
    } else if (!deleted.ok()) {
      Logf("%s (retrying)", deleted.message());
    } else {
      job_->DeletionDone(path);
    }
  }
}

}  // namespace murmur::coordinator
