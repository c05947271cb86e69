#include "data/latin1.h"

#include <gtest/gtest.h>

#include <string>

namespace murmur::data {
namespace {

TEST(Latin1Test, EveryByteMapsToItsCodePoint) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string utf8;
  AppendLatin1AsUtf8(all, &utf8);
  ASSERT_EQ(utf8.size(), 128u + 2 * 128u);
  EXPECT_EQ(utf8.substr(0, 128), all.substr(0, 128));
  // U+00E9 is C3 A9; U+0080 is C2 80; U+00FF is C3 BF.
  EXPECT_EQ(utf8.substr(128, 2), "\xc2\x80");
  EXPECT_EQ(utf8.substr(128 + 2 * (0xe9 - 0x80), 2), "\xc3\xa9");
  EXPECT_EQ(utf8.substr(utf8.size() - 2), "\xc3\xbf");
  EXPECT_EQ(Utf8ToLatin1(utf8), all);
}

TEST(Latin1Test, Utf8ToLatin1KeepsWhatLatin1CannotSay) {
  // U+2019 (E2 80 99) has no latin-1 byte: copied as is. A lone C3 at the end too.
  EXPECT_EQ(Utf8ToLatin1("caf\xc3\xa9 \xe2\x80\x99 \xc3"), "caf\xe9 \xe2\x80\x99 \xc3");
}

TEST(Latin1Test, HasHighBytes) {
  EXPECT_FALSE(HasHighBytes(""));
  EXPECT_FALSE(HasHighBytes("plain ascii text, longer than eight bytes"));
  EXPECT_TRUE(HasHighBytes("plain ascii text, longer than eight bytes\x80"));
  EXPECT_TRUE(HasHighBytes("\xff"));
  EXPECT_TRUE(HasHighBytes("12345678\xe9"));
}

}  // namespace
}  // namespace murmur::data
