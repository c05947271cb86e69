#include "coordinator/tensorboard/event_file.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "base/crc32c.h"
#include "base/file.h"
#include "base/test_util.h"
#include "coordinator/tensorboard/tensorboard_curves.h"

namespace murmur::tensorboard {
namespace {

std::string FreshDir(const std::string& name) {
  const std::string dir = testing::TempDir() + "/" + name;
  testing::RunShell("rm -rf '" + dir + "'");
  return dir;
}

TEST(EventFileTest, WritesTfRecordFramedEventsThatReadBack) {
  const std::string dir = FreshDir("events-roundtrip");
  auto writer = EventFileWriter::Create(dir);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->AddScalar("train/loss", 1, 0.75, 100.0).ok());
  ASSERT_TRUE((*writer)->AddScalar("train/loss", 2, 0.5, 101.0).ok());
  ASSERT_TRUE((*writer)->Flush().ok());
  EXPECT_EQ(EventFiles(dir), std::vector<std::string>{(*writer)->path()});
  EXPECT_NE((*writer)->path().find("/events.out.tfevents."), std::string::npos);

  auto events = ReadEventFile((*writer)->path());
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].file_version(), "brain.Event:2");
  EXPECT_EQ((*events)[1].step(), 1);
  EXPECT_EQ((*events)[1].wall_time(), 100.0);
  ASSERT_EQ((*events)[1].summary().value_size(), 1);
  EXPECT_EQ((*events)[1].summary().value(0).tag(), "train/loss");
  EXPECT_FLOAT_EQ((*events)[1].summary().value(0).simple_value(), 0.75f);
  EXPECT_EQ((*events)[2].step(), 2);

  // The framing, byte for byte, of the first record: length, masked CRC of the length, data,
  // masked CRC of the data.
  auto bytes = ReadFile((*writer)->path());
  ASSERT_TRUE(bytes.ok());
  const std::string data = (*events)[0].SerializeAsString();
  ASSERT_GE(bytes->size(), 16 + data.size());
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>((*bytes)[i]);
  EXPECT_EQ(length, data.size());
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>((*bytes)[at + i]);
    return v;
  };
  EXPECT_EQ(u32(8), MaskedCrc32c(bytes->substr(0, 8)));
  EXPECT_EQ(bytes->substr(12, data.size()), data);
  EXPECT_EQ(u32(12 + data.size()), MaskedCrc32c(data));
}

TEST(EventFileTest, CorruptOrTruncatedRecordsAreDataLoss) {
  const std::string dir = FreshDir("events-corrupt");
  std::string path;
  {
    auto writer = EventFileWriter::Create(dir);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->AddScalar("eval/accuracy", 10, 0.8, 1.0).ok());
    path = (*writer)->path();
  }
  auto bytes = ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  std::string flipped = *bytes;
  flipped[flipped.size() - 6] ^= 0x01;  // inside the last record's data
  ASSERT_TRUE(WriteFileAtomically(path, flipped).ok());
  auto corrupt = ReadEventFile(path);
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(corrupt.status().message().find("CRC"), std::string::npos) << corrupt.status();
  ASSERT_TRUE(WriteFileAtomically(path, bytes->substr(0, bytes->size() - 3)).ok());
  EXPECT_EQ(ReadEventFile(path).status().code(), absl::StatusCode::kDataLoss);
}

TEST(EventFileTest, EachWriterGetsItsOwnFile) {
  const std::string dir = FreshDir("events-two");
  auto first = EventFileWriter::Create(dir);
  auto second = EventFileWriter::Create(dir);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE((*first)->path(), (*second)->path());
  EXPECT_EQ(EventFiles(dir).size(), 2u);
}

// tag -> (step -> value) of every scalar in `dir`.
std::map<std::string, std::map<int64_t, float>> Scalars(const std::string& dir) {
  std::map<std::string, std::map<int64_t, float>> out;
  for (const std::string& file : EventFiles(dir)) {
    auto events = ReadEventFile(file);
    EXPECT_TRUE(events.ok()) << events.status();
    if (!events.ok()) continue;
    for (const Event& event : *events) {
      for (const auto& value : event.summary().value()) {
        out[value.tag()][event.step()] = value.simple_value();
      }
    }
  }
  return out;
}

TEST(TensorBoardCurvesTest, StepsAndEvaluationsBecomeNamedCurves) {
  const std::string dir = FreshDir("curves");
  auto curves = TensorBoardCurves::Create(dir);
  ASSERT_TRUE(curves.ok()) << curves.status();
  (*curves)->RecordStep({.global_step = 1, .loss = 0.7, .learning_rate = 1e-3,
                         .samples_per_second = 250, .wall_time = 10});
  (*curves)->RecordStep({.global_step = 2, .loss = 0.6, .learning_rate = 9e-4,
                         .samples_per_second = 260, .wall_time = 10.2});
  v1::EvaluationMetrics metrics;
  metrics.set_global_step(2);
  metrics.set_loss(0.55);
  metrics.set_accuracy(0.81);
  for (double v : {0.8, 0.82}) metrics.add_precision(v);
  for (double v : {0.79, 0.83}) metrics.add_recall(v);
  for (double v : {0.795, 0.825}) metrics.add_f1(v);
  (*curves)->RecordEvaluation(metrics, 11, /*masked_lm=*/false);
  metrics.set_global_step(3);
  metrics.clear_precision();
  metrics.clear_recall();
  metrics.clear_f1();
  metrics.set_accuracy(0.4);
  (*curves)->RecordEvaluation(metrics, 12, /*masked_lm=*/true);

  // Readable while the writer is open: evaluations flush.
  auto scalars = Scalars(dir);
  EXPECT_FLOAT_EQ(scalars["train/loss"][1], 0.7f);
  EXPECT_FLOAT_EQ(scalars["train/loss"][2], 0.6f);
  EXPECT_FLOAT_EQ(scalars["train/learning_rate"][2], 9e-4f);
  EXPECT_FLOAT_EQ(scalars["train/samples_per_second"][1], 250.0f);
  EXPECT_FLOAT_EQ(scalars["eval/accuracy"][2], 0.81f);
  EXPECT_FLOAT_EQ(scalars["eval/f1_positive"][2], 0.825f);
  EXPECT_FLOAT_EQ(scalars["eval/recall_negative"][2], 0.79f);
  EXPECT_FLOAT_EQ(scalars["eval/masked_token_accuracy"][3], 0.4f);
  EXPECT_EQ(scalars["eval/accuracy"].count(3), 0u) << "masked-token accuracy is named as such";
}

TEST(TensorBoardCurvesTest, StepCurvesAreReadBackAcrossFilesAndSkipCorruptOnes) {
  const std::string dir = FreshDir("read-back");
  {
    auto first = TensorBoardCurves::Create(dir);  // an earlier coordinator process
    ASSERT_TRUE(first.ok()) << first.status();
    (*first)->RecordStep({.global_step = 1, .loss = 0.7, .learning_rate = 1e-3,
                          .samples_per_second = 250, .wall_time = 10});
    (*first)->RecordStep({.global_step = 2, .loss = 0.6, .learning_rate = 0,
                          .samples_per_second = 0, .wall_time = 11});
  }
  {
    auto second = TensorBoardCurves::Create(dir);
    ASSERT_TRUE(second.ok()) << second.status();
    (*second)->RecordStep({.global_step = 3, .loss = 0.5, .learning_rate = 8e-4,
                           .samples_per_second = 270, .wall_time = 12});
  }
  ASSERT_TRUE(WriteFileAtomically(dir + "/events.out.tfevents.9999999999.corrupt",
                                  std::string(20, 'x'))
                  .ok());
  const std::vector<coordinator::StepPoint> points = ReadStepCurves(dir);
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[0].global_step, 1);
  EXPECT_FLOAT_EQ(static_cast<float>(points[0].samples_per_second), 250.0f);
  EXPECT_FLOAT_EQ(static_cast<float>(points[1].loss), 0.6f);
  EXPECT_EQ(points[1].learning_rate, 0) << "not recorded, so not made up";
  EXPECT_EQ(points[2].global_step, 3);
  EXPECT_FLOAT_EQ(static_cast<float>(points[2].learning_rate), 8e-4f);
  EXPECT_DOUBLE_EQ(points[2].wall_time, 12);
}

}  // namespace
}  // namespace murmur::tensorboard
