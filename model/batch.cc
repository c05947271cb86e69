#include "model/batch.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cstddef>

#include "absl/strings/str_cat.h"

namespace murmur::model {

int64_t Batch::RoundRows(int64_t tokens) {
  int64_t multiple = kRowMultiple;
  while (multiple * 32 <= tokens) multiple *= 2;
  return (tokens + multiple - 1) / multiple * multiple;
}

absl::StatusOr<Batch> Batch::FromSequences(const std::vector<std::vector<int32_t>>& sequences,
                                           int64_t max_positions) {
  Batch batch;
  batch.batch_size = static_cast<int64_t>(sequences.size());
  if (batch.batch_size == 0) return absl::InvalidArgumentError("empty batch");
  int64_t longest = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    int64_t len = static_cast<int64_t>(sequences[i].size());
    if (len == 0 || len > max_positions) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", i, " has ", len, " tokens; need 1..", max_positions));
    }
    batch.num_tokens += len;
    longest = std::max(longest, len);
  }
  auto round_up = [](int64_t n, int64_t multiple) {
    return (n + multiple - 1) / multiple * multiple;
  };
  const int64_t T = batch.num_tokens, B = batch.batch_size;
  batch.max_len = round_up(longest, kLengthMultiple);
  batch.num_rows = RoundRows(T);
  const int64_t R = batch.num_rows;
  batch.input_ids = at::zeros({R}, at::kLong);
  batch.position_ids = at::zeros({R}, at::kLong);
  batch.cls_index = at::empty({B}, at::kLong);
  int64_t* ids = batch.input_ids.data_ptr<int64_t>();
  int64_t* positions = batch.position_ids.data_ptr<int64_t>();
  int64_t* cls = batch.cls_index.data_ptr<int64_t>();
  int64_t row = 0;
  for (int64_t b = 0; b < B; ++b) {
    cls[b] = row;
    batch.lengths.push_back(static_cast<int64_t>(sequences[b].size()));
    for (size_t j = 0; j < sequences[b].size(); ++j, ++row) {
      ids[row] = sequences[b][j];
      positions[row] = static_cast<int64_t>(j);
    }
  }
  return batch;
}

bool Batch::dense() const {
  if (num_rows != num_tokens) return false;
  for (int64_t length : lengths) {
    if (length != max_len) return false;
  }
  return true;
}

absl::StatusOr<Batch> Batch::FromPadded(const at::Tensor& input_ids,
                                        const at::Tensor& attention_mask, int64_t max_positions) {
  if (input_ids.dim() != 2 || !attention_mask.defined() ||
      attention_mask.sizes() != input_ids.sizes()) {
    return absl::InvalidArgumentError("input_ids and attention_mask must both be [batch, len]");
  }
  at::Tensor ids = input_ids.to(at::kLong).contiguous();
  at::Tensor mask = attention_mask.to(at::kLong).contiguous();
  std::vector<std::vector<int32_t>> sequences(ids.size(0));
  auto id = ids.accessor<int64_t, 2>();
  auto m = mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < ids.size(0); ++b) {
    bool ended = false;
    for (int64_t j = 0; j < ids.size(1); ++j) {
      if (m[b][j] != 0 && m[b][j] != 1) {
        return absl::InvalidArgumentError("attention_mask values must be 0 or 1");
      }
      if (m[b][j] == 1 && ended) {
        return absl::InvalidArgumentError(
            absl::StrCat("attention_mask row ", b, " is not right-padded"));
      }
      if (m[b][j] == 0) {
        ended = true;
      } else {
        sequences[b].push_back(static_cast<int32_t>(id[b][j]));
      }
    }
  }
  return FromSequences(sequences, max_positions);
}

Batch Batch::To(const at::Device& device) const {
  if (input_ids.device() == device) return *this;
  Batch moved = *this;
  for (at::Tensor* t : {&moved.input_ids, &moved.position_ids, &moved.cls_index}) {
    *t = t->to(device);
  }
  return moved;
}

}  // namespace murmur::model
