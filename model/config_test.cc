#include "model/config.h"

#include <cstdlib>
#include <string>

#include "base/file.h"
#include "base/test_util.h"
#include "gtest/gtest.h"

namespace murmur::model {
namespace {

TEST(ConfigTest, BasePresetHasDistilBertBaseParameterCount) {
  absl::StatusOr<DistilBertConfig> config = DistilBertConfig::Preset("base", 30522);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(CountParameters(*config), 66955010);
  EXPECT_EQ(config->head_dim(), 64);
}

TEST(ConfigTest, PresetsValidateAndUnknownPresetFails) {
  for (const char* name : {"base", "small", "tiny"}) {
    absl::StatusOr<DistilBertConfig> config = DistilBertConfig::Preset(name, 1000);
    ASSERT_TRUE(config.ok()) << name << ": " << config.status();
    EXPECT_EQ(config->vocab_size, 1000);
  }
  absl::StatusOr<DistilBertConfig> small = DistilBertConfig::Preset("small", 1000);
  EXPECT_EQ(small->n_layers, 2);
  EXPECT_EQ(small->dim, 256);
  EXPECT_EQ(small->n_heads, 4);
  EXPECT_EQ(small->hidden_dim, 1024);
  EXPECT_FALSE(DistilBertConfig::Preset("huge", 1000).ok());
}

TEST(ConfigTest, ReadsHuggingFaceConfig) {
  absl::StatusOr<DistilBertConfig> config =
      DistilBertConfig::Load(testing::SharedDataPath("distilbert-base-uncased/config.json"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->dim, 768);
  EXPECT_EQ(config->n_layers, 6);
  EXPECT_EQ(config->n_heads, 12);
  EXPECT_EQ(config->hidden_dim, 3072);
  EXPECT_EQ(config->vocab_size, 30522);
  EXPECT_DOUBLE_EQ(config->seq_classif_dropout, 0.2);
  ASSERT_EQ(config->architectures.size(), 1u);
  EXPECT_EQ(config->architectures[0], "DistilBertForMaskedLM");
  // No id2label in the masked-LM config: murmur's labels apply.
  EXPECT_EQ(config->id2label, DefaultLabels());
}

TEST(ConfigTest, JsonRoundTrip) {
  DistilBertConfig config = *DistilBertConfig::Preset("small", 777);
  config.dropout = 0.25;
  config.activation = "relu";
  config.id2label = {"neg", "neutral", "pos"};
  absl::StatusOr<DistilBertConfig> back = DistilBertConfig::FromJson(config.ToJson(), "x");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->vocab_size, 777);
  EXPECT_EQ(back->dim, 256);
  EXPECT_DOUBLE_EQ(back->dropout, 0.25);
  EXPECT_EQ(back->activation, "relu");
  EXPECT_EQ(back->id2label, config.id2label);
  EXPECT_NE(config.ToJson().find("\"DistilBertForSequenceClassification\""), std::string::npos);
}

TEST(ConfigTest, GenericLabelsBecomeMurmurLabels) {
  absl::StatusOr<DistilBertConfig> config = DistilBertConfig::FromJson(
      R"({"model_type": "distilbert", "id2label": {"0": "LABEL_0", "1": "LABEL_1"}})", "c");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->id2label, DefaultLabels());
}

TEST(ConfigTest, BadConfigsNameFileAndField) {
  auto error = [](const std::string& json) {
    return std::string(DistilBertConfig::FromJson(json, "dir/config.json").status().message());
  };
  EXPECT_NE(error("[1]").find("dir/config.json"), std::string::npos);
  EXPECT_NE(error(R"({"dim": "big"})").find("'dim'"), std::string::npos);
  EXPECT_NE(error(R"({"dim": 100, "n_heads": 12})").find("divisible"), std::string::npos);
  EXPECT_NE(error(R"({"model_type": "bert"})").find("model_type"), std::string::npos);
  EXPECT_NE(error(R"({"activation": "swish"})").find("swish"), std::string::npos);
  EXPECT_NE(error(R"({"id2label": {"0": "a", "5": "b"}})").find("id2label"), std::string::npos);
}

}  // namespace
}  // namespace murmur::model
