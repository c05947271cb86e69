#include "model/safetensors.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/file.h"
#include "base/test_util.h"
#include "gtest/gtest.h"

namespace murmur::model {
namespace {

std::string TempPath(const std::string& name) { return testing::TempDir() + "/" + name; }

std::string Le64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

// A file from a hand-written header and data.
std::string WriteRaw(const std::string& name, const std::string& header, const std::string& data) {
  std::string path = TempPath(name);
  EXPECT_TRUE(WriteFileAtomically(path, Le64(header.size()) + header + data).ok());
  return path;
}

std::string OpenError(const std::string& path) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  EXPECT_FALSE(file.ok());
  return file.ok() ? "" : std::string(file.status().message());
}

TEST(SafetensorsTest, RoundTrip) {
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, 7.0f};
  std::vector<int64_t> b = {1, -2, 1LL << 40};
  std::vector<uint16_t> c = {0x3f80, 0xbf80};
  SafetensorsWriter writer;
  ASSERT_TRUE(writer.Add("a.weight", DType::kF32, {2, 3}, a.data(), a.size() * 4).ok());
  ASSERT_TRUE(writer.Add("b", DType::kI64, {3}, b.data(), b.size() * 8).ok());
  ASSERT_TRUE(writer.Add("c", DType::kBF16, {2}, c.data(), c.size() * 2).ok());
  ASSERT_TRUE(writer.Add("empty", DType::kF32, {0, 4}, nullptr, 0).ok());
  writer.SetMetadata("format", "pt");
  std::string path = TempPath("round_trip.safetensors");
  ASSERT_TRUE(writer.Write(path).ok());

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors().size(), 4u);
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  const TensorView* view = (*file)->Find("a.weight");
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(view->dtype, DType::kF32);
  EXPECT_EQ(view->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(view->data, a.data(), 24), 0);
  EXPECT_EQ(std::memcmp((*file)->Find("b")->data, b.data(), 24), 0);
  EXPECT_EQ((*file)->Find("empty")->numel(), 0);
  EXPECT_EQ((*file)->Find("missing"), nullptr);
  absl::StatusOr<const TensorView*> missing = (*file)->Get("missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'missing'"), std::string::npos);
  EXPECT_NE(missing.status().message().find(path), std::string::npos);

  // Header padded to 8 bytes so that data stays aligned.
  std::string bytes = *ReadFile(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(writer.Serialize(), bytes);
}

TEST(SafetensorsTest, WriterRejectsBadInput) {
  SafetensorsWriter writer;
  float x[4] = {};
  EXPECT_FALSE(writer.Add("x", DType::kF32, {3}, x, 16).ok());
  EXPECT_TRUE(writer.Add("x", DType::kF32, {4}, x, 16).ok());
  EXPECT_FALSE(writer.Add("x", DType::kF32, {4}, x, 16).ok());
  EXPECT_FALSE(writer.Add("__metadata__", DType::kF32, {4}, x, 16).ok());
}

TEST(SafetensorsTest, TruncatedFile) {
  std::string path = TempPath("short.safetensors");
  ASSERT_TRUE(WriteFileAtomically(path, "abc").ok());
  EXPECT_NE(OpenError(path).find("truncated"), std::string::npos);
}

TEST(SafetensorsTest, HeaderLargerThanFile) {
  std::string path = TempPath("big_header.safetensors");
  ASSERT_TRUE(WriteFileAtomically(path, Le64(1000) + "{}").ok());
  std::string error = OpenError(path);
  EXPECT_NE(error.find("header length 1000 is larger than the file"), std::string::npos) << error;
  EXPECT_NE(error.find(path), std::string::npos);
}

TEST(SafetensorsTest, TruncatedData) {
  std::string path = WriteRaw("trunc_data.safetensors",
                              R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                              std::string(10, '\0'));
  std::string error = OpenError(path);
  EXPECT_NE(error.find("tensor 'w'"), std::string::npos) << error;
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
}

TEST(SafetensorsTest, OffsetsOutsideFile) {
  std::string path = WriteRaw("outside.safetensors",
                              R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[96,100]}})",
                              std::string(8, '\0'));
  std::string error = OpenError(path);
  EXPECT_NE(error.find("tensor 'w'"), std::string::npos) << error;
  EXPECT_NE(error.find("outside the data"), std::string::npos) << error;
}

TEST(SafetensorsTest, SizeDisagreesWithShape) {
  std::string path = WriteRaw("shape.safetensors",
                              R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                              std::string(8, '\0'));
  std::string error = OpenError(path);
  EXPECT_NE(error.find("tensor 'w'"), std::string::npos) << error;
  EXPECT_NE(error.find("needs 12"), std::string::npos) << error;
}

TEST(SafetensorsTest, OverlappingTensors) {
  std::string path = WriteRaw(
      "overlap.safetensors",
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
      std::string(12, '\0'));
  EXPECT_NE(OpenError(path).find("overlaps"), std::string::npos);
}

TEST(SafetensorsTest, BadHeaders) {
  EXPECT_NE(OpenError(WriteRaw("json.safetensors", "{not json", "")).find("not a JSON object"),
            std::string::npos);
  std::string error = OpenError(WriteRaw(
      "dtype.safetensors", R"({"w":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}})", "abcd"));
  EXPECT_NE(error.find("tensor 'w'"), std::string::npos) << error;
  EXPECT_NE(error.find("F12"), std::string::npos) << error;
  EXPECT_NE(OpenError(WriteRaw("neg.safetensors",
                               R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
                               "abcd"))
                .find("bad shape"),
            std::string::npos);
  EXPECT_NE(OpenError(WriteRaw("offsets.safetensors",
                               R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", "abcd"))
                .find("data_offsets"),
            std::string::npos);
}

}  // namespace
}  // namespace murmur::model
