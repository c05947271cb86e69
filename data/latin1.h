// Latin-1 (ISO-8859-1) <-> UTF-8. Sentiment140 is read as latin-1 (as TFDS and pandas'
// encoding='ISO-8859-1' do) because the original file holds invalid UTF-8: reading each byte as
// the code point of the same value never fails and never loses a byte.
//
// Pure functions; thread-safe.
#ifndef MURMUR_DATA_LATIN1_H_
#define MURMUR_DATA_LATIN1_H_

#include <string>
#include <string_view>

namespace murmur::data {

// Appends the UTF-8 of `latin1`: bytes < 0x80 unchanged, each byte 0x80-0xFF as the two-byte
// UTF-8 of U+0080-U+00FF.
void AppendLatin1AsUtf8(std::string_view latin1, std::string* out);

// The inverse where possible: UTF-8 sequences for U+0000-U+00FF become one byte each. Anything
// else (code points above U+00FF, invalid UTF-8) is copied through byte for byte, so the result
// is still faithful where latin-1 cannot express the text.
std::string Utf8ToLatin1(std::string_view utf8);

// True when some byte is >= 0x80 (the text needs decoding to become UTF-8).
bool HasHighBytes(std::string_view bytes);

}  // namespace murmur::data

#endif  // MURMUR_DATA_LATIN1_H_
