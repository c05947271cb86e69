#include "coordinator/tensorboard/event_file.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/crc32c.h"
#include "base/file.h"

namespace murmur::tensorboard {
namespace {

constexpr char kFileVersion[] = "brain.Event:2";

void AppendLittleEndian(uint64_t value, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

uint64_t ReadLittleEndian(const char* data, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(data[i]);
  return value;
}

std::string HostName() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return host[0] != '\0' ? host : "localhost";
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventFileWriter>> EventFileWriter::Create(const std::string& dir) {
  if (auto made = MakeDirectories(dir); !made.ok()) return made;
  // The time and the host name, as TensorFlow names them; the pid as well, so that two
  // processes started within one second on one host (a coordinator restart) get two files, and
  // a counter for two writers of one process.
  const std::string base = absl::StrCat(dir, "/events.out.tfevents.",
                                        absl::ToUnixSeconds(absl::Now()), ".", HostName(), ".",
                                        getpid());
  std::string path;
  std::FILE* file = nullptr;
  for (int attempt = 0; file == nullptr; ++attempt) {
    path = attempt == 0 ? base : absl::StrCat(base, ".", attempt);
    file = std::fopen(path.c_str(), "wbx");  // x: never another writer's file
    if (file == nullptr && (errno != EEXIST || attempt >= 1000)) {
      return absl::InternalError(
          absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
    }
  }
  std::unique_ptr<EventFileWriter> writer(new EventFileWriter(file, path));
  Event version;
  version.set_wall_time(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
  version.set_file_version(kFileVersion);
  if (auto written = writer->Write(version); !written.ok()) return written;
  if (auto flushed = writer->Flush(); !flushed.ok()) return flushed;
  return writer;
}

EventFileWriter::~EventFileWriter() { std::fclose(file_); }

absl::Status EventFileWriter::AddScalar(const std::string& tag, int64_t step, double value,
                                        double wall_time) {
  Event event;
  event.set_wall_time(wall_time);
  event.set_step(step);
  Summary::Value* point = event.mutable_summary()->add_value();
  point->set_tag(tag);
  point->set_simple_value(static_cast<float>(value));
  return Write(event);
}

absl::Status EventFileWriter::Write(const Event& event) {
  const std::string data = event.SerializeAsString();
  std::string length;
  AppendLittleEndian(data.size(), 8, &length);
  std::string record = length;
  AppendLittleEndian(MaskedCrc32c(length), 4, &record);
  record += data;
  AppendLittleEndian(MaskedCrc32c(data), 4, &record);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size()) {
    return absl::InternalError(absl::StrCat("writing ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status EventFileWriter::Flush() {
  if (std::fflush(file_) != 0) {
    return absl::InternalError(absl::StrCat("flushing ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Event>> ReadEventFile(const std::string& path) {
  auto contents = ReadFile(path);
  if (!contents.ok()) return contents.status();
  const std::string& bytes = *contents;
  std::vector<Event> events;
  size_t offset = 0;
  while (offset < bytes.size()) {
    auto corrupt = [&](const std::string& what) {
      return absl::DataLossError(absl::StrCat(path, ": record at offset ", offset, ": ", what));
    };
    if (bytes.size() - offset < 12) return corrupt("truncated header");
    const absl::string_view length_bytes(bytes.data() + offset, 8);
    if (ReadLittleEndian(bytes.data() + offset + 8, 4) != MaskedCrc32c(length_bytes)) {
      return corrupt("length CRC mismatch");
    }
    const uint64_t length = ReadLittleEndian(bytes.data() + offset, 8);
    if (length > bytes.size() - offset - 12 || bytes.size() - offset - 12 - length < 4) {
      return corrupt("truncated data");
    }
    const absl::string_view data(bytes.data() + offset + 12, length);
    if (ReadLittleEndian(bytes.data() + offset + 12 + length, 4) != MaskedCrc32c(data)) {
      return corrupt("data CRC mismatch");
    }
    Event event;
    if (!event.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
      return corrupt("not an Event");
    }
    events.push_back(std::move(event));
    offset += 12 + length + 4;
  }
  if (events.empty() || events[0].file_version() != kFileVersion) {
    return absl::DataLossError(absl::StrCat(path, ": does not start with file_version ",
                                            kFileVersion));
  }
  return events;
}

std::vector<std::string> EventFiles(const std::string& dir) {
  std::vector<std::string> files;
  DIR* handle = opendir(dir.c_str());
  if (handle == nullptr) return files;
  while (const dirent* entry = readdir(handle)) {
    if (absl::StartsWith(entry->d_name, "events.out.tfevents.")) {
      files.push_back(absl::StrCat(dir, "/", entry->d_name));
    }
  }
  closedir(handle);
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace murmur::tensorboard
