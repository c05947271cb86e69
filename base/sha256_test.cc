#include "base/sha256.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "base/file.h"

namespace murmur {
namespace {

TEST(Sha256Test, KnownVectors) {
  // FIPS 180-2 examples.
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, IncrementalEqualsOneShotAndResets) {
  Sha256Hasher hasher;
  hasher.Update("ab");
  hasher.Update("c");
  EXPECT_EQ(hasher.FinishHex(), Sha256Hex("abc"));
  hasher.Update("");
  EXPECT_EQ(hasher.FinishHex(), Sha256Hex(""));
}

TEST(Sha256Test, FileDigestMatchesBytes) {
  std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/f";
  ASSERT_TRUE(WriteFileAtomically(path, "abc").ok());
  auto digest = Sha256FileHex(path);
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(*digest, Sha256Hex("abc"));
  EXPECT_FALSE(Sha256FileHex(path + ".missing").ok());
}

}  // namespace
}  // namespace murmur
