#include "serving/validation.h"

#include "absl/strings/str_cat.h"

namespace murmur::serving {

bool IsValidUtf8(std::string_view text, size_t* error_offset) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    uint32_t min, code;
    if ((c & 0xE0) == 0xC0) {
      length = 2, min = 0x80, code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3, min = 0x800, code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4, min = 0x10000, code = c & 0x07;
    } else {
      *error_offset = i;
      return false;
    }
    if (i + length > n) {
      *error_offset = i;
      return false;
    }
    for (size_t k = 1; k < length; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) {
        *error_offset = i;
        return false;
      }
      code = (code << 6) | (s[i + k] & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      *error_offset = i;
      return false;
    }
    i += length;
  }
  return true;
}

absl::Status ValidateTexts(const std::vector<std::string>& texts, const RequestLimits& limits) {
  if (texts.empty()) {
    return absl::InvalidArgumentError("empty batch: a request needs at least one text");
  }
  if (texts.size() > static_cast<size_t>(limits.max_texts)) {
    return absl::InvalidArgumentError(absl::StrCat("too many texts: ", texts.size(),
                                                   " in one request, the limit is ",
                                                   limits.max_texts));
  }
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].size() > static_cast<size_t>(limits.max_text_bytes)) {
      return absl::InvalidArgumentError(absl::StrCat("text ", i, " is too long: ",
                                                     texts[i].size(), " bytes, the limit is ",
                                                     limits.max_text_bytes));
    }
    size_t offset = 0;
    if (!IsValidUtf8(texts[i], &offset)) {
      return absl::InvalidArgumentError(
          absl::StrCat("text ", i, " is not valid UTF-8 (bad byte sequence at offset ", offset,
                       ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace murmur::serving
