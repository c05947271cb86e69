// TensorBoard event files: what a person opens with `tensorboard --logdir RUN_DIR`, written the
// way Hugging Face Trainer's `report_to="tensorboard"` does (one file per writing process,
// events.out.tfevents.<unix time>.<host>, scalar summaries per step).
//
// Format: a sequence of TFRecords, each `uint64 length | uint32 masked_crc32c(length) | data |
// uint32 masked_crc32c(data)` (little-endian), whose data is a serialized Event (event.proto);
// the first event holds file_version "brain.Event:2".
//
// EventFileWriter owns its file; not thread-safe (its user serializes calls). ReadEventFile is
// a pure function, for tests and tools.
#ifndef MURMUR_COORDINATOR_TENSORBOARD_EVENT_FILE_H_
#define MURMUR_COORDINATOR_TENSORBOARD_EVENT_FILE_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/tensorboard/event.pb.h"

namespace murmur::tensorboard {

class EventFileWriter {
 public:
  // Creates `dir` if needed and a new events file in it (never appends to another process's
  // file: TensorBoard reads every file of a directory as one run).
  static absl::StatusOr<std::unique_ptr<EventFileWriter>> Create(const std::string& dir);
  ~EventFileWriter();
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  // Appends one scalar point of curve `tag` (buffered: Flush makes it visible to readers).
  absl::Status AddScalar(const std::string& tag, int64_t step, double value, double wall_time);
  absl::Status Flush();
  const std::string& path() const { return path_; }

 private:
  EventFileWriter(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  absl::Status Write(const Event& event);

  std::FILE* file_;
  const std::string path_;
};

// Every event of the file at `path`, checking the framing and both CRCs of every record.
// DATA_LOSS names the offset of a truncated or corrupt record.
absl::StatusOr<std::vector<Event>> ReadEventFile(const std::string& path);

// The events files of `dir` (events.out.tfevents.*), sorted by name.
std::vector<std::string> EventFiles(const std::string& dir);

}  // namespace murmur::tensorboard

#endif  // MURMUR_COORDINATOR_TENSORBOARD_EVENT_FILE_H_
