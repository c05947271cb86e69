#include "base/file.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace murmur {
namespace {

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

TEST(FileTest, AtomicWriteThenReadAndMap) {
  std::string path = TempDir() + "/a.bin";
  std::string payload("hello\0world", 11);
  ASSERT_TRUE(WriteFileAtomically(path, payload).ok());
  auto read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, payload);
  auto mapped = MappedFile::Open(path);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ((*mapped)->view(), payload);
  ASSERT_TRUE(WriteFileAtomically(path, "second").ok());
  EXPECT_EQ(*ReadFile(path), "second");
  auto stat = StatFile(path);
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->size, 6u);
}

TEST(FileTest, MissingFileIsNotFoundAndNamesThePath) {
  auto read = ReadFile(TempDir() + "/does-not-exist");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(read.status().message().find("does-not-exist"), std::string::npos);
  EXPECT_EQ(MappedFile::Open(TempDir() + "/does-not-exist").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(FileTest, EmptyFileMapsToEmptyView) {
  std::string path = TempDir() + "/empty";
  ASSERT_TRUE(WriteFileAtomically(path, "").ok());
  auto mapped = MappedFile::Open(path);
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ((*mapped)->size(), 0u);
  EXPECT_TRUE((*mapped)->view().empty());
}

TEST(FileTest, MakeDirectoriesCreatesParentsAndRejectsFiles) {
  std::string dir = TempDir() + "/x/y/z";
  ASSERT_TRUE(MakeDirectories(dir).ok());
  EXPECT_TRUE(PathExists(dir));
  ASSERT_TRUE(MakeDirectories(dir).ok());  // idempotent
  std::string file = TempDir() + "/plain";
  ASSERT_TRUE(WriteFileAtomically(file, "x").ok());
  EXPECT_FALSE(MakeDirectories(file).ok());
  EXPECT_FALSE(ReadFile(dir).ok());
}

}  // namespace
}  // namespace murmur
