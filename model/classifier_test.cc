#include "model/classifier.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/test_util.h"
#include "model/distilbert.h"
#include "model/model_io.h"

namespace murmur::model {
namespace {

constexpr int kVocabSize = 40;

std::string WriteVocab(const std::string& dir) {
  std::string text = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (int i = 5; i < kVocabSize; ++i) absl::StrAppend(&text, "word", i, "\n");
  std::string path = dir + "/vocab.txt";
  EXPECT_TRUE(WriteFileAtomically(path, text).ok());
  return path;
}

TEST(ClassifierTest, ClassifiesWithASavedClassifierAndRefusesAHeadlessEncoder) {
  const std::string dir = testing::TempDir() + "/classifier_test";
  ASSERT_TRUE(MakeDirectories(dir).ok());
  SaveOptions options;
  options.vocab_path = WriteVocab(dir);
  options.overwrite = true;
  auto config = DistilBertConfig::Preset("tiny", kVocabSize);
  ASSERT_TRUE(config.ok());
  torch::manual_seed(1);
  ASSERT_TRUE(SaveCheckpoint(dir + "/classifier", DistilBertForSequenceClassification(*config),
                             options)
                  .ok());
  ASSERT_TRUE(
      SaveCheckpoint(dir + "/masked_lm", DistilBertForMaskedLM(*config), options).ok());

  auto classifier = Classifier::Create(dir + "/classifier", {});
  ASSERT_TRUE(classifier.ok()) << classifier.status();
  auto predictions = (*classifier)->Classify({"word7 word9", "word12"});
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  ASSERT_EQ(predictions->size(), 2u);
  EXPECT_NEAR((*predictions)[0].probabilities[0] + (*predictions)[0].probabilities[1], 1.0, 1e-5);

  // A masked-LM pretraining checkpoint has no classification head: serving or predicting with
  // it would answer with a random head, so it is refused with a message that says what to do.
  auto refused = Classifier::Create(dir + "/masked_lm", {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("fine-tune"), std::string::npos) << refused.status();
}

}  // namespace
}  // namespace murmur::model
