// Checks murmur's model against an independent implementation of Hugging Face's
// DistilBertForSequenceClassification (hf_reference_model.py, plain Python, float64): the script
// writes a random model directory in Hugging Face's layout and the probabilities it computes;
// Classifier and `murmur predict` must agree within 1e-4. (transformers itself is not
// installable here; the script says how it follows modeling_distilbert.py.)
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/test_util.h"
#include "gtest/gtest.h"
#include "model/classifier.h"
#include "nlohmann/json.hpp"
#include "text/tokenizer.h"

namespace murmur::model {
namespace {

using Json = nlohmann::json;

const std::vector<std::string>& Texts() {
  static const auto* texts = new std::vector<std::string>{
      "I love this so much, best day ever!!",
      "ugh... my phone died again and I missed the bus",
      "",
      "@friend going to the beach tomorrow http://example.com #summer",
      "Worst. Service. Ever. Never going back to that place :(",
      "ok",
      "Just finished my exams - can't believe it's finally over, time to sleep for a week",
  };
  return *texts;
}

class ReferenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string vocab = testing::SharedDataPath("distilbert-base-uncased/vocab.txt");
    dir_ = new std::string(testing::TempDir() + "/hf_model");
    auto tokenizer = text::Tokenizer::FromVocabFile(vocab);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    Json ids = Json::array();
    for (const std::string& text : Texts()) ids.push_back((*tokenizer)->Encode(text));
    std::string ids_path = testing::TempDir() + "/ids.json";
    std::string expected_path = testing::TempDir() + "/expected.json";
    ASSERT_TRUE(WriteFileAtomically(ids_path, ids.dump()).ok());
    ASSERT_EQ(testing::RunShell(absl::StrCat("python3 model/hf_reference_model.py --out ", *dir_,
                                             " --vocab ", vocab, " --ids ", ids_path,
                                             " --expected ", expected_path)),
              0);
    Json expected = Json::parse(*ReadFile(expected_path));
    expected_ = new std::vector<std::vector<double>>(
        expected["probabilities"].get<std::vector<std::vector<double>>>());
  }

  static std::string* dir_;
  static std::vector<std::vector<double>>* expected_;
};
std::string* ReferenceTest::dir_ = nullptr;
std::vector<std::vector<double>>* ReferenceTest::expected_ = nullptr;

TEST_F(ReferenceTest, ClassifierMatchesReferenceWithin1e4) {
  ASSERT_NE(expected_, nullptr);
  for (int batch : {1, 3, 32}) {
    Classifier::Options options;
    options.max_batch_size = batch;
    auto classifier = Classifier::Create(*dir_, options);
    ASSERT_TRUE(classifier.ok()) << classifier.status();
    EXPECT_EQ((*classifier)->load_summary(), "loaded DistilBertForSequenceClassification");
    auto predictions = (*classifier)->Classify(Texts());
    ASSERT_TRUE(predictions.ok()) << predictions.status();
    ASSERT_EQ(predictions->size(), expected_->size());
    double spread = 0;
    for (size_t i = 0; i < expected_->size(); ++i) {
      const Prediction& p = (*predictions)[i];
      ASSERT_EQ(p.probabilities.size(), 2u);
      for (int label = 0; label < 2; ++label) {
        EXPECT_NEAR(p.probabilities[label], (*expected_)[i][label], 1e-4)
            << "text " << i << " label " << label << " batch " << batch;
      }
      int expected_label = (*expected_)[i][1] > (*expected_)[i][0] ? 1 : 0;
      EXPECT_EQ(p.label_id, expected_label);
      EXPECT_EQ(p.label, expected_label ? "positive" : "negative");
      EXPECT_FLOAT_EQ(p.score, p.probabilities[p.label_id]);
      spread = std::max(spread, std::abs((*expected_)[i][0] - 0.5));
    }
    EXPECT_GT(spread, 0.2) << "reference model too close to uniform to be a useful check";
  }
}

TEST_F(ReferenceTest, Bf16IsCloseToReference) {
  ASSERT_NE(expected_, nullptr);
  Classifier::Options options;
  options.bf16 = true;
  auto classifier = Classifier::Create(*dir_, options);
  ASSERT_TRUE(classifier.ok()) << classifier.status();
  auto predictions = (*classifier)->Classify(Texts());
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  for (size_t i = 0; i < expected_->size(); ++i) {
    EXPECT_NEAR((*predictions)[i].probabilities[1], (*expected_)[i][1], 0.05) << i;
  }
}

TEST_F(ReferenceTest, PredictCommandMatchesReference) {
  ASSERT_NE(expected_, nullptr);
  std::string input = testing::TempDir() + "/texts.txt";
  std::string output = testing::TempDir() + "/predictions.jsonl";
  std::string joined;
  for (const std::string& text : Texts()) joined += text + "\n";
  ASSERT_TRUE(WriteFileAtomically(input, joined).ok());
  ASSERT_EQ(testing::RunShell(absl::StrCat("client/murmur predict --model ", *dir_,
                                           " --batch 4 < ", input, " > ", output)),
            0);
  std::vector<std::string> lines = absl::StrSplit(*ReadFile(output), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), Texts().size());
  for (size_t i = 0; i < lines.size(); ++i) {
    Json line = Json::parse(lines[i]);
    // Exactly the documented keys, in the documented order.
    EXPECT_EQ(lines[i].rfind("{\"label\": \"", 0), 0u) << lines[i];
    EXPECT_NE(lines[i].find("\", \"score\": "), std::string::npos) << lines[i];
    EXPECT_NE(lines[i].find(", \"probabilities\": ["), std::string::npos) << lines[i];
    ASSERT_EQ(line.size(), 3u) << lines[i];
    std::vector<double> probabilities = line["probabilities"].get<std::vector<double>>();
    ASSERT_EQ(probabilities.size(), 2u);
    EXPECT_NEAR(probabilities[0], (*expected_)[i][0], 1e-4) << lines[i];
    EXPECT_NEAR(probabilities[1], (*expected_)[i][1], 1e-4) << lines[i];
    int label = probabilities[1] > probabilities[0] ? 1 : 0;
    EXPECT_EQ(line["label"], label ? "positive" : "negative");
    EXPECT_DOUBLE_EQ(line["score"].get<double>(), probabilities[label]);
  }
}

TEST_F(ReferenceTest, PredictCommandReportsBadModelDirectory) {
  EXPECT_EQ(testing::RunShell("client/murmur predict --model /nonexistent < /dev/null"), 1);
  EXPECT_EQ(testing::RunShell("client/murmur predict < /dev/null"), 2);
}

}  // namespace
}  // namespace murmur::model
