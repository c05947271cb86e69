#include "coordinator/journal.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "base/file.h"

namespace murmur::coordinator {

std::string JournalPath(const std::string& dir) { return dir + "/journal.json"; }

bool JournalExists(const std::string& dir) { return PathExists(JournalPath(dir)); }

absl::StatusOr<journal::State> ReadJournal(const std::string& dir) {
  const std::string path = JournalPath(dir);
  auto json = ReadFile(path);
  if (!json.ok()) return json.status();
  // The version first, read leniently: a journal of another version may have fields this one
  // does not know, and deserves "another version" rather than "does not parse".
  journal::State versioned;
  google::protobuf::util::JsonParseOptions lenient;
  lenient.ignore_unknown_fields = true;
  if (google::protobuf::util::JsonStringToMessage(*json, &versioned, lenient).ok() &&
      versioned.version() != kJournalVersion) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": journal version ",
                                                      versioned.version(), ", expected ",
                                                      kJournalVersion));
  }
  journal::State state;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed = google::protobuf::util::JsonStringToMessage(*json, &state, options);
  if (!parsed.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", std::string(parsed.message().data(), parsed.message().size())));
  }
  if (state.version() != kJournalVersion) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": journal version ", state.version(),
                                                      ", expected ", kJournalVersion));
  }
  return state;
}

absl::Status WriteJournal(const std::string& dir, const journal::State& state) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  journal::State versioned = state;
  versioned.set_version(kJournalVersion);
  auto printed = google::protobuf::util::MessageToJsonString(versioned, &json, options);
  if (!printed.ok()) return absl::InternalError(std::string(printed.message()));
  return WriteFileAtomically(JournalPath(dir), json);
}

}  // namespace murmur::coordinator
