// Character classes and per-character normalization of Hugging Face's BertNormalizer and
// BertPreTokenizer, computed from Unicode data through utf8proc (categories, canonical
// decomposition, case mapping) rather than hand-written tables.
//
// All functions are pure and thread-safe.
#ifndef MURMUR_TEXT_UNICODE_H_
#define MURMUR_TEXT_UNICODE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace murmur::text {

constexpr char32_t kReplacementChar = 0xFFFD;

// The one UTF-8 decoder of murmur (the tokenizer reads with it, serving validates with it).
//
// The valid, shortest-form UTF-8 sequence of a Unicode scalar value that starts at text[pos]
// (pos < text.size()): its value and its length in bytes; length 0 (value U+FFFD) when none
// starts there (a stray continuation byte, an overlong form, a surrogate, a value past
// U+10FFFF, a truncated sequence).
struct Utf8Sequence {
  char32_t value;
  int length;
};
Utf8Sequence ReadUtf8(std::string_view text, size_t pos);

// Whether all of `text` is valid UTF-8 (as ReadUtf8 defines it). On failure `*error_offset` is
// the byte offset of the first bad sequence.
bool IsValidUtf8(std::string_view text, size_t* error_offset);

// Decodes one UTF-8 sequence at text[*pos] and advances *pos. A byte that does not start a
// valid, shortest-form sequence of a Unicode scalar value yields U+FFFD and advances by one byte
// (the WHATWG "maximal subpart" rule would skip more; one byte keeps the rule simple and total).
char32_t DecodeUtf8(std::string_view text, size_t* pos);

// Appends the UTF-8 encoding of `c` (a scalar value) to `out`.
void AppendUtf8(char32_t c, std::string* out);

// Python BERT / HF tokenizers definitions:
// whitespace: \t \n \r and Unicode White_Space (Zs, Zl, Zp, U+000B, U+000C, U+001C..U+001F are
// Cc and count as control first: see IsBertControl).
bool IsBertWhitespace(char32_t c);
// control: categories Cc Cf Co, except \t \n \r (which are whitespace). Unassigned code points
// (Cn) are kept, as tokenizers keeps them.
bool IsBertControl(char32_t c);
// punctuation: any ASCII punctuation (including $ + < = > ^ ` | ~) or categories P*.
bool IsBertPunctuation(char32_t c);
// CJK ideograph blocks that BertNormalizer surrounds with spaces (tokenizers' ranges).
bool IsChineseChar(char32_t c);

// What BertNormalizer makes of one character: clean_text, Chinese padding, accent stripping
// (NFD, then nonspacing marks dropped) and lowercasing, as options say. Appends code points.
struct NormalizerOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool strip_accents = true;
  bool lowercase = true;
};
// Returns the number of code points appended to out (at most `capacity`; a decomposition is
// never longer than 18 code points).
int NormalizeChar(char32_t c, const NormalizerOptions& options, char32_t* out, int capacity);

}  // namespace murmur::text

#endif  // MURMUR_TEXT_UNICODE_H_
