#include "text/unicode.h"

#include <utf8proc.h>

namespace murmur::text {

Utf8Sequence ReadUtf8(std::string_view text, size_t pos) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  const unsigned char b0 = bytes[pos];
  if (b0 < 0x80) return {b0, 1};
  int length;
  char32_t c;
  char32_t min;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
    c = b0 & 0x1F;
    min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    c = b0 & 0x0F;
    min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    c = b0 & 0x07;
    min = 0x10000;
  } else {
    return {kReplacementChar, 0};
  }
  if (pos + length > n) return {kReplacementChar, 0};
  for (int k = 1; k < length; ++k) {
    const unsigned char b = bytes[pos + k];
    if ((b & 0xC0) != 0x80) return {kReplacementChar, 0};
    c = (c << 6) | (b & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return {kReplacementChar, 0};
  return {c, length};
}

char32_t DecodeUtf8(std::string_view text, size_t* pos) {
  const Utf8Sequence sequence = ReadUtf8(text, *pos);
  *pos += sequence.length > 0 ? sequence.length : 1;
  return sequence.value;
}

bool IsValidUtf8(std::string_view text, size_t* error_offset) {
  size_t pos = 0;
  while (pos < text.size()) {
    const int length = ReadUtf8(text, pos).length;
    if (length == 0) {
      *error_offset = pos;
      return false;
    }
    pos += length;
  }
  return true;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

namespace {

utf8proc_category_t Category(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

}  // namespace

bool IsBertWhitespace(char32_t c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x85) {
    return true;
  }
  utf8proc_category_t category = Category(c);
  return category == UTF8PROC_CATEGORY_ZS || category == UTF8PROC_CATEGORY_ZL ||
         category == UTF8PROC_CATEGORY_ZP;
}

bool IsBertControl(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:
      return true;
    default:
      return false;
  }
}

bool IsBertPunctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126)) {
    return true;
  }
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

bool IsChineseChar(char32_t c) {
  // The ranges of tokenizers' bert normalizer (its 0x2B920 start differs from the Python
  // BasicTokenizer's 0x2B820; we follow the fast tokenizer, the one users run).
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

int NormalizeChar(char32_t c, const NormalizerOptions& options, char32_t* out, int capacity) {
  if (options.clean_text) {
    if (c == 0 || c == kReplacementChar || IsBertControl(c)) return 0;
    if (IsBertWhitespace(c)) {
      out[0] = ' ';
      return 1;
    }
  }
  int count = 0;
  bool chinese = options.handle_chinese_chars && IsChineseChar(c);
  if (chinese) out[count++] = ' ';
  utf8proc_int32_t decomposed[20];
  int parts = 1;
  decomposed[0] = static_cast<utf8proc_int32_t>(c);
  if (options.strip_accents) {
    int last_boundclass = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), decomposed,
                                                 20, UTF8PROC_DECOMPOSE, &last_boundclass);
    parts = n > 0 && n <= 20 ? static_cast<int>(n) : 1;
  }
  for (int i = 0; i < parts && count < capacity - 1; ++i) {
    utf8proc_int32_t part = decomposed[i];
    if (options.strip_accents && utf8proc_category(part) == UTF8PROC_CATEGORY_MN) continue;
    if (options.lowercase) part = utf8proc_tolower(part);
    out[count++] = static_cast<char32_t>(part);
  }
  if (chinese) out[count++] = ' ';
  return count;
}

}  // namespace murmur::text
