// The journal codec: the coordinator's durable state (journal::State, journal.proto) as
// DIR/journal.json, rewritten atomically after every change so that a crash leaves the previous
// or the new state, never a torn one. JSON so that an operator can read it.
//
// Pure functions over files; thread-safe for different directories.
#ifndef MURMUR_COORDINATOR_JOURNAL_H_
#define MURMUR_COORDINATOR_JOURNAL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/journal.pb.h"

namespace murmur::coordinator {

// Bumped when the meaning of a field changes (the proto may be renumbered together with it).
// 2: checkpoints' publications are messages (target, version), not "target -> version" strings.
inline constexpr int32_t kJournalVersion = 2;

std::string JournalPath(const std::string& dir);
bool JournalExists(const std::string& dir);
// DATA_LOSS for a file that does not parse; FAILED_PRECONDITION for another journal version.
absl::StatusOr<journal::State> ReadJournal(const std::string& dir);
// Writes `state` with version kJournalVersion.
absl::Status WriteJournal(const std::string& dir, const journal::State& state);

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_JOURNAL_H_
