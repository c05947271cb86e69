#include "serving/validation.h"

#include "absl/strings/str_cat.h"
#include "text/unicode.h"

namespace murmur::serving {

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
    if (!text::IsValidUtf8(texts[i], &offset)) {
      return absl::InvalidArgumentError(
          absl::StrCat("text ", i, " is not valid UTF-8 (bad byte sequence at offset ", offset,
                       ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace murmur::serving
