// Checks murmur's model against Hugging Face's DistilBertForSequenceClassification, from two
// references that share no code with murmur:
//  - "transformers": model/testdata/hf_transformers, written by transformers 5.17 itself
//    (save_pretrained, its tokenizer, its forward pass) on the accelerator machine, where it is
//    installed; make_hf_transformers_fixture.py says how. Also checks murmur's tokenizer against
//    the token ids transformers' tokenizer gave.
//  - "independent": hf_reference_model.py, a plain-Python float64 re-implementation of
//    modeling_distilbert.py that writes a random model directory at test time, with the real
//    distilbert-base-uncased vocabulary.
// Classifier and `murmur predict` must agree with both within 1e-4.
#include <cmath>
#include <map>
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

// A model directory in Hugging Face's layout, the texts it was run on and the probabilities the
// reference computed for them (label-id order).
struct Reference {
  std::string dir;
  std::vector<std::string> texts;
  std::vector<std::vector<double>> probabilities;
  std::vector<std::vector<int64_t>> input_ids;  // The reference tokenizer's ids, when it has one.
};

// The fixture directory, with its vocabulary (kept beside it under another name, so that no
// file in the repository looks like a copy of ../shared/data's vocab.txt) put back in place.
Reference LoadTransformersReference() {
  Reference reference;
  const std::string fixture = "model/testdata/hf_transformers";
  reference.dir = testing::TempDir() + "/hf_transformers";
  EXPECT_TRUE(MakeDirectories(reference.dir).ok());
  for (const char* name : {"config.json", "model.safetensors", "tokenizer.json",
                           "tokenizer_config.json", "expected.json"}) {
    auto contents = ReadFile(fixture + "/" + name);
    EXPECT_TRUE(contents.ok()) << contents.status();
    if (contents.ok()) {
      EXPECT_TRUE(WriteFileAtomically(reference.dir + "/" + name, *contents).ok());
    }
  }
  auto vocab = ReadFile("model/testdata/hf_transformers_vocab.txt");
  EXPECT_TRUE(vocab.ok()) << vocab.status();
  if (vocab.ok()) {
    EXPECT_TRUE(WriteFileAtomically(reference.dir + "/vocab.txt", *vocab).ok());
  }
  auto expected = ReadFile(reference.dir + "/expected.json");
  if (!expected.ok()) return reference;
  Json json = Json::parse(*expected);
  reference.texts = json["texts"].get<std::vector<std::string>>();
  reference.probabilities = json["probabilities"].get<std::vector<std::vector<double>>>();
  reference.input_ids = json["input_ids"].get<std::vector<std::vector<int64_t>>>();
  return reference;
}

Reference WriteIndependentReference() {
  Reference reference;
  // The same texts as the transformers fixture.
  auto fixture = ReadFile("model/testdata/hf_transformers/expected.json");
  EXPECT_TRUE(fixture.ok()) << fixture.status();
  if (!fixture.ok()) return reference;
  reference.texts = Json::parse(*fixture)["texts"].get<std::vector<std::string>>();
  reference.dir = testing::TempDir() + "/hf_model";
  std::string vocab = testing::SharedDataPath("distilbert-base-uncased/vocab.txt");
  auto tokenizer = text::Tokenizer::FromVocabFile(vocab);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  if (!tokenizer.ok()) return reference;
  Json ids = Json::array();
  for (const std::string& text : reference.texts) ids.push_back((*tokenizer)->Encode(text));
  std::string ids_path = testing::TempDir() + "/ids.json";
  std::string expected_path = testing::TempDir() + "/expected.json";
  EXPECT_TRUE(WriteFileAtomically(ids_path, ids.dump()).ok());
  EXPECT_EQ(testing::RunShell(absl::StrCat("python3 model/hf_reference_model.py --out ",
                                           reference.dir, " --vocab ", vocab, " --ids ", ids_path,
                                           " --expected ", expected_path)),
            0);
  auto expected = ReadFile(expected_path);
  EXPECT_TRUE(expected.ok()) << expected.status();
  if (expected.ok()) {
    reference.probabilities =
        Json::parse(*expected)["probabilities"].get<std::vector<std::vector<double>>>();
  }
  return reference;
}

class ReferenceTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Built once per reference: the independent one runs a Python script.
  const Reference& reference() {
    static auto* cache = new std::map<std::string, Reference>();
    auto it = cache->find(GetParam());
    if (it == cache->end()) {
      Reference made = GetParam() == "transformers" ? LoadTransformersReference()
                                                    : WriteIndependentReference();
      it = cache->emplace(GetParam(), std::move(made)).first;
    }
    return it->second;
  }
};

TEST_P(ReferenceTest, TokenizerGivesTheReferenceIds) {
  const Reference& ref = reference();
  if (ref.input_ids.empty()) GTEST_SKIP() << "this reference has no tokenizer of its own";
  auto tokenizer = text::Tokenizer::FromVocabFile(ref.dir + "/vocab.txt");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  ASSERT_EQ(ref.input_ids.size(), ref.texts.size());
  for (size_t i = 0; i < ref.texts.size(); ++i) {
    std::vector<int64_t> ids;
    for (auto id : (*tokenizer)->Encode(ref.texts[i])) ids.push_back(id);
    EXPECT_EQ(ids, ref.input_ids[i]) << "text " << i << ": " << ref.texts[i];
  }
}

TEST_P(ReferenceTest, ClassifierMatchesReferenceWithin1e4) {
  const Reference& ref = reference();
  ASSERT_FALSE(ref.probabilities.empty());
  for (int batch : {1, 3, 32}) {
    auto classifier = Classifier::Create(ref.dir, {});
    ASSERT_TRUE(classifier.ok()) << classifier.status();
    EXPECT_EQ((*classifier)->load_summary(), "loaded DistilBertForSequenceClassification");
    auto predictions = ClassifyInLengthSortedBatches(**classifier, ref.texts, batch);
    ASSERT_TRUE(predictions.ok()) << predictions.status();
    ASSERT_EQ(predictions->size(), ref.probabilities.size());
    double spread = 0;
    for (size_t i = 0; i < ref.probabilities.size(); ++i) {
      const Prediction& p = (*predictions)[i];
      ASSERT_EQ(p.probabilities.size(), 2u);
      for (int label = 0; label < 2; ++label) {
        EXPECT_NEAR(p.probabilities[label], ref.probabilities[i][label], 1e-4)
            << "text " << i << " label " << label << " batch " << batch;
      }
      int expected_label = ref.probabilities[i][1] > ref.probabilities[i][0] ? 1 : 0;
      EXPECT_EQ(p.label_id, expected_label);
      EXPECT_EQ(p.label, expected_label ? "positive" : "negative");
      EXPECT_FLOAT_EQ(p.score, p.probabilities[p.label_id]);
      spread = std::max(spread, std::abs(ref.probabilities[i][0] - 0.5));
    }
    EXPECT_GT(spread, 0.2) << "reference model too close to uniform to be a useful check";
  }
}

TEST_P(ReferenceTest, Bf16IsCloseToReference) {
  const Reference& ref = reference();
  ASSERT_FALSE(ref.probabilities.empty());
  Classifier::Options options;
  options.bf16 = true;
  auto classifier = Classifier::Create(ref.dir, options);
  ASSERT_TRUE(classifier.ok()) << classifier.status();
  auto predictions = ClassifyInLengthSortedBatches(**classifier, ref.texts, 32);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  for (size_t i = 0; i < ref.probabilities.size(); ++i) {
    EXPECT_NEAR((*predictions)[i].probabilities[1], ref.probabilities[i][1], 0.05) << i;
  }
}

TEST_P(ReferenceTest, PredictCommandMatchesReference) {
  const Reference& ref = reference();
  ASSERT_FALSE(ref.probabilities.empty());
  std::string input = testing::TempDir() + "/texts.txt";
  std::string output = testing::TempDir() + "/predictions.jsonl";
  // One text per line: a text with a line break cannot be given to the command.
  std::string joined;
  std::vector<size_t> given;
  for (size_t i = 0; i < ref.texts.size(); ++i) {
    if (ref.texts[i].find('\n') != std::string::npos) continue;
    joined += ref.texts[i] + "\n";
    given.push_back(i);
  }
  ASSERT_TRUE(WriteFileAtomically(input, joined).ok());
  // fp32: the parity is to 1e-4 (--precision auto would pick bf16 on a CPU with native bf16).
  ASSERT_EQ(testing::RunShell(absl::StrCat("client/murmur predict --precision fp32 --model ",
                                           ref.dir, " --batch 4 < ", input, " > ", output)),
            0);
  std::vector<std::string> lines = absl::StrSplit(*ReadFile(output), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), given.size());
  for (size_t line_index = 0; line_index < lines.size(); ++line_index) {
    size_t i = given[line_index];
    Json line = Json::parse(lines[line_index]);
    // Exactly the documented keys, in the documented order.
    EXPECT_EQ(lines[line_index].rfind("{\"label\": \"", 0), 0u) << lines[line_index];
    EXPECT_NE(lines[line_index].find("\", \"score\": "), std::string::npos) << lines[line_index];
    EXPECT_NE(lines[line_index].find(", \"probabilities\": ["), std::string::npos) << lines[line_index];
    ASSERT_EQ(line.size(), 3u) << lines[line_index];
    std::vector<double> probabilities = line["probabilities"].get<std::vector<double>>();
    ASSERT_EQ(probabilities.size(), 2u);
    EXPECT_NEAR(probabilities[0], ref.probabilities[i][0], 1e-4) << lines[line_index];
    EXPECT_NEAR(probabilities[1], ref.probabilities[i][1], 1e-4) << lines[line_index];
    int label = probabilities[1] > probabilities[0] ? 1 : 0;
    EXPECT_EQ(line["label"], label ? "positive" : "negative");
    EXPECT_DOUBLE_EQ(line["score"].get<double>(), probabilities[label]);
  }
}

TEST(PredictCommandTest, ReportsBadModelDirectory) {
  EXPECT_EQ(testing::RunShell("client/murmur predict --model /nonexistent < /dev/null"), 1);
  EXPECT_EQ(testing::RunShell("client/murmur predict < /dev/null"), 2);
}

INSTANTIATE_TEST_SUITE_P(References, ReferenceTest,
                         ::testing::Values("transformers", "independent"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace murmur::model
