#include "serving/fake_servable.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file.h"

namespace murmur::serving {

FakeServable::FakeServable(float bias, int max_length) : bias_(bias), max_length_(max_length) {}

void FakeServable::Tokenize(std::string_view text, std::vector<int32_t>* ids) const {
  ids->clear();
  ids->push_back(101);
  for (absl::string_view word :
       absl::StrSplit(absl::string_view(text.data(), text.size()), ' ', absl::SkipEmpty())) {
    if (static_cast<int>(ids->size()) + 1 >= max_length_) break;
    ids->push_back(1000 + static_cast<int32_t>(word.size()));
  }
  ids->push_back(102);
}

model::Prediction FakeServable::Expected(const std::vector<int32_t>& ids) const {
  int64_t sum = 0;
  for (int32_t id : ids) sum += id;
  float positive = 0.3f + 0.04f * static_cast<float>(sum % 10) + bias_;
  positive = std::clamp(positive, 0.0f, 1.0f);
  model::Prediction p;
  p.probabilities = {1.0f - positive, positive};
  p.label_id = positive > 0.5f ? 1 : 0;
  p.score = p.probabilities[p.label_id];
  p.label = labels_[p.label_id];
  return p;
}

absl::StatusOr<std::vector<model::Prediction>> FakeServable::Classify(
    const std::vector<std::vector<int32_t>>& sequences) const {
  {
    absl::MutexLock lock(&mu_);
    ++waiting_;
    mu_.Await(absl::Condition(
        +[](bool* held) { return !*held; }, const_cast<bool*>(&held_)));
    --waiting_;
    size_t max_length = 0;
    for (const auto& s : sequences) max_length = std::max(max_length, s.size());
    batch_sizes_.push_back(static_cast<int>(sequences.size()));
    batch_max_lengths_.push_back(static_cast<int>(max_length));
  }
  std::vector<model::Prediction> out;
  out.reserve(sequences.size());
  for (const auto& ids : sequences) out.push_back(Expected(ids));
  return out;
}

void FakeServable::Hold() {
  absl::MutexLock lock(&mu_);
  held_ = true;
}

void FakeServable::Release() {
  absl::MutexLock lock(&mu_);
  held_ = false;
}

int FakeServable::waiting() const {
  absl::MutexLock lock(&mu_);
  return waiting_;
}

int FakeServable::batches() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(batch_sizes_.size());
}

std::vector<int> FakeServable::batch_sizes() const {
  absl::MutexLock lock(&mu_);
  return batch_sizes_;
}

std::vector<int> FakeServable::batch_max_lengths() const {
  absl::MutexLock lock(&mu_);
  return batch_max_lengths_;
}

absl::StatusOr<std::unique_ptr<Servable>> FakeServableLoader::Load(const std::string& dir) const {
  ++loads_;
  const std::string path = dir + "/" + kFile;
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) return contents.status();
  float bias = 0;
  if (!absl::SimpleAtof(absl::StripAsciiWhitespace(*contents), &bias)) {
    return absl::DataLossError(absl::StrCat(path, ": not a fake model (\"", *contents, "\")"));
  }
  auto servable = std::make_unique<FakeServable>(bias);
  absl::MutexLock lock(&mu_);
  last_ = servable.get();
  return servable;
}

void FakeServableLoader::WriteVersion(const std::string& dir, float bias) {
  if (!MakeDirectories(dir).ok()) std::abort();
  if (!WriteFileAtomically(dir + "/" + kFile, absl::StrCat(bias)).ok()) std::abort();
}

}  // namespace murmur::serving
