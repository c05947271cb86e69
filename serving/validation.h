// Checks on request texts before any work is queued: every bad input gets INVALID_ARGUMENT with
// a message that says which text and why, instead of a failure deep in the model.
// Stateless; thread-safe.
#ifndef MURMUR_SERVING_VALIDATION_H_
#define MURMUR_SERVING_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace murmur::serving {

struct RequestLimits {
  // Texts per request. Default 256 (must not exceed the batcher's max_queue_size).
  int max_texts = 256;
  // Bytes per text. Default 4096: a tweet is at most 280 characters (1,120 UTF-8 bytes); the
  // model sees at most 512 tokens anyway, so longer input would only be truncated work.
  int max_text_bytes = 4096;
};

// INVALID_ARGUMENT for an empty batch, too many texts, an over-long text or invalid UTF-8.
absl::Status ValidateTexts(const std::vector<std::string>& texts, const RequestLimits& limits);

}  // namespace murmur::serving

#endif  // MURMUR_SERVING_VALIDATION_H_
