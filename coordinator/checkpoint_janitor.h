// Deletes the directories of the checkpoints that retention (JobSpec.keep_checkpoints) dropped,
// crash-safely:
//   1. the Job removes the checkpoint from its registry and journals it as a pending deletion,
//      so from then on nothing resumes or publishes it, whatever is left on disk;
//   2. the janitor renames the directory to NAME.deleting (atomic) and removes that;
//   3. the Job forgets the pending deletion (journaled).
// A coordinator killed anywhere in between redoes step 2 after its restart: a half-deleted
// directory is never one it would trust (it is not in the registry, and it is not named like a
// checkpoint any more).
//
// Only directories directly under the job's checkpoint_dir are deleted: a worker's report
// cannot make the coordinator delete anything else. Borrows the Job. Not thread-safe: one
// thread (the server's background loop) runs it.
#ifndef MURMUR_COORDINATOR_CHECKPOINT_JANITOR_H_
#define MURMUR_COORDINATOR_CHECKPOINT_JANITOR_H_

#include <string>

#include "absl/status/status.h"
#include "coordinator/job.h"

namespace murmur::coordinator {

// Step 2 for one directory: OK when it is gone (also when it was gone already).
// FAILED_PRECONDITION, deleting nothing, when `path` is not directly under `checkpoint_root`.
absl::Status DeleteCheckpointDirectory(const std::string& checkpoint_root,
                                       const std::string& path);

class CheckpointJanitor {
 public:
  CheckpointJanitor(Job* job, std::string checkpoint_root)
      : job_(job), checkpoint_root_(std::move(checkpoint_root)) {}

  // Deletes every pending directory and tells the Job. A refused path (outside the root) is
  // logged and dropped; an I/O failure is logged and retried next time.
  void RunOnce();

 private:
  Job* const job_;
  const std::string checkpoint_root_;
};

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_CHECKPOINT_JANITOR_H_
