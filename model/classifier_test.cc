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

// A saved tiny classifier and a masked-LM checkpoint beside it, written once.
const std::string& CheckpointsDir() {
  static const std::string* dir = [] {
    auto* path = new std::string(testing::TempDir() + "/classifier_test");
    EXPECT_TRUE(MakeDirectories(*path).ok());
    SaveOptions options;
    options.vocab_path = WriteVocab(*path);
    options.overwrite = true;
    auto config = DistilBertConfig::Preset("tiny", kVocabSize);
    EXPECT_TRUE(config.ok());
    torch::manual_seed(1);
    EXPECT_TRUE(SaveCheckpoint(*path + "/classifier",
                               DistilBertForSequenceClassification(*config), options)
                    .ok());
    EXPECT_TRUE(
        SaveCheckpoint(*path + "/masked_lm", DistilBertForMaskedLM(*config), options).ok());
    return path;
  }();
  return *dir;
}

TEST(ClassifierTest, ClassifiesWithASavedClassifierAndRefusesAHeadlessEncoder) {
  const std::string& dir = CheckpointsDir();
  auto classifier = Classifier::Create(dir + "/classifier", {});
  ASSERT_TRUE(classifier.ok()) << classifier.status();
  auto predictions = ClassifyInLengthSortedBatches(**classifier, {"word7 word9", "word12"}, 32);
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

TEST(ClassifierTest, ClassifyRunsOneBatchAsGivenAndNamesTheLabels) {
  auto classifier = Classifier::Create(CheckpointsDir() + "/classifier", {});
  ASSERT_TRUE(classifier.ok()) << classifier.status();
  std::vector<std::vector<int32_t>> sequences(3);
  (*classifier)->Tokenize("word7", &sequences[0]);
  (*classifier)->Tokenize("word7 word9 word12 word20", &sequences[1]);
  (*classifier)->Tokenize("word30 word31", &sequences[2]);
  auto batch = (*classifier)->Classify(sequences);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), 3u);
  for (size_t i = 0; i < sequences.size(); ++i) {
    // Input order: each sequence alone gives the same prediction as within the batch.
    auto alone = (*classifier)->Classify({sequences[i]});
    ASSERT_TRUE(alone.ok()) << alone.status();
    const Prediction& p = (*batch)[i];
    EXPECT_NEAR(p.probabilities[1], (*alone)[0].probabilities[1], 1e-5) << i;
    EXPECT_EQ(p.label, (*classifier)->config().id2label[p.label_id]);
    EXPECT_FLOAT_EQ(p.score, p.probabilities[p.label_id]);
  }
  EXPECT_EQ((*classifier)->Classify({{2, kVocabSize, 3}}).status().code(),
            absl::StatusCode::kInvalidArgument)
      << "an id outside the vocabulary";
}

TEST(ClassifierTest, LengthSortedBatchesGiveInputOrderWhateverTheBatchSize) {
  auto classifier = Classifier::Create(CheckpointsDir() + "/classifier", {});
  ASSERT_TRUE(classifier.ok()) << classifier.status();
  const std::vector<std::string> texts = {"word7", "word8 word9 word10 word11 word12", "",
                                          "word13 word14", "word15 word16 word17"};
  auto whole = ClassifyInLengthSortedBatches(**classifier, texts, 32);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_EQ(whole->size(), texts.size());
  for (int batch : {1, 2}) {
    auto chunked = ClassifyInLengthSortedBatches(**classifier, texts, batch);
    ASSERT_TRUE(chunked.ok()) << chunked.status();
    for (size_t i = 0; i < texts.size(); ++i) {
      std::vector<int32_t> ids;
      (*classifier)->Tokenize(texts[i], &ids);
      auto alone = (*classifier)->Classify({ids});
      ASSERT_TRUE(alone.ok()) << alone.status();
      EXPECT_NEAR((*chunked)[i].probabilities[1], (*alone)[0].probabilities[1], 1e-5)
          << "text " << i << " batch " << batch;
      EXPECT_NEAR((*chunked)[i].probabilities[1], (*whole)[i].probabilities[1], 1e-5);
    }
  }
  auto empty = ClassifyInLengthSortedBatches(**classifier, {}, 32);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(ClassifyInLengthSortedBatches(**classifier, texts, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace murmur::model
