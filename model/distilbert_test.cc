#include "model/distilbert.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/autocast.h"
#include "model/batch.h"
#include "model/model_io.h"
#include "model/packed_attention.h"
#include "model/packed_linear.h"

namespace murmur::model {
namespace {

// Hugging Face's DistilBertForSequenceClassification(distilbert-base-uncased, num_labels=2)
// state-dict names and shapes, in its order.
std::vector<std::pair<std::string, std::vector<int64_t>>> HuggingFaceBaseParameters() {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
      {"distilbert.embeddings.word_embeddings.weight", {30522, 768}},
      {"distilbert.embeddings.position_embeddings.weight", {512, 768}},
      {"distilbert.embeddings.LayerNorm.weight", {768}},
      {"distilbert.embeddings.LayerNorm.bias", {768}},
  };
  for (int i = 0; i < 6; ++i) {
    std::string p = absl::StrCat("distilbert.transformer.layer.", i, ".");
    for (const char* lin : {"q_lin", "k_lin", "v_lin", "out_lin"}) {
      out.push_back({absl::StrCat(p, "attention.", lin, ".weight"), {768, 768}});
      out.push_back({absl::StrCat(p, "attention.", lin, ".bias"), {768}});
    }
    out.push_back({p + "sa_layer_norm.weight", {768}});
    out.push_back({p + "sa_layer_norm.bias", {768}});
    out.push_back({p + "ffn.lin1.weight", {3072, 768}});
    out.push_back({p + "ffn.lin1.bias", {3072}});
    out.push_back({p + "ffn.lin2.weight", {768, 3072}});
    out.push_back({p + "ffn.lin2.bias", {768}});
    out.push_back({p + "output_layer_norm.weight", {768}});
    out.push_back({p + "output_layer_norm.bias", {768}});
  }
  out.push_back({"pre_classifier.weight", {768, 768}});
  out.push_back({"pre_classifier.bias", {768}});
  out.push_back({"classifier.weight", {2, 768}});
  out.push_back({"classifier.bias", {2}});
  return out;
}

TEST(DistilBertTest, BaseParametersMatchHuggingFace) {
  DistilBertForSequenceClassification model(*DistilBertConfig::Preset("base", 30522));
  auto expected = HuggingFaceBaseParameters();
  NamedTensors actual = StateDict(model);
  ASSERT_EQ(actual.size(), expected.size());
  int64_t total = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(actual[i].first, expected[i].first);
    EXPECT_EQ(actual[i].second.sizes().vec(), expected[i].second) << expected[i].first;
    total += actual[i].second.numel();
  }
  EXPECT_EQ(total, 66955010);
  EXPECT_EQ(CountParameters(model->config()), 66955010);
  // Hugging Face's init: padding embedding zero, LayerNorm unit, biases zero.
  EXPECT_EQ(model->distilbert->embeddings->word_embeddings->weight[0].abs().sum().item<float>(),
            0.0f);
  EXPECT_TRUE(torch::equal(model->distilbert->embeddings->LayerNorm->weight,
                           torch::ones({768})));
}

TEST(DistilBertTest, MaskedLmParametersMatchHuggingFaceAndTheProjectorIsTied) {
  DistilBertForMaskedLM model(*DistilBertConfig::Preset("base", 30522));
  NamedTensors actual = StateDict(model);
  // transformers' DistilBertForMaskedLM state dict without the tied vocab_projector.weight.
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const auto& item : HuggingFaceBaseParameters()) {
    if (item.first.rfind("distilbert.", 0) == 0) expected.push_back(item);
  }
  expected.push_back({"vocab_transform.weight", {768, 768}});
  expected.push_back({"vocab_transform.bias", {768}});
  expected.push_back({"vocab_layer_norm.weight", {768}});
  expected.push_back({"vocab_layer_norm.bias", {768}});
  expected.push_back({"vocab_projector.bias", {30522}});
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(actual[i].first, expected[i].first);
    EXPECT_EQ(actual[i].second.sizes().vec(), expected[i].second) << expected[i].first;
  }
}

TEST(DistilBertTest, MaskedLmLogitsUseTheWordEmbeddingsAndTrainThem) {
  torch::manual_seed(3);
  DistilBertConfig config = *DistilBertConfig::Preset("tiny", 50);
  DistilBertForMaskedLM model(config);
  model->eval();
  auto batch = Batch::FromSequences({{3, 7, 8, 4}, {3, 9, 4}}, config.max_position_embeddings);
  ASSERT_TRUE(batch.ok());
  torch::Tensor rows = torch::tensor({1, 5}, torch::kLong);  // token 7 and token 9
  torch::Tensor logits = model->forward(*batch, rows);
  ASSERT_EQ(logits.sizes().vec(), (std::vector<int64_t>{2, 50}));
  // The head by hand: the hidden state of each row through transform, GELU, LayerNorm, then
  // the word-embedding table (tied) plus the projector's bias.
  torch::Tensor hidden = model->distilbert(*batch).index_select(0, rows);
  torch::Tensor h = model->vocab_layer_norm(torch::gelu(model->vocab_transform(hidden)));
  torch::Tensor expected =
      h.matmul(model->distilbert->embeddings->word_embeddings->weight.t()) +
      model->vocab_projector->bias;
  EXPECT_TRUE(torch::allclose(logits, expected, 1e-5, 1e-6));
  // Training: the loss reaches the embedding rows of tokens that were never inputs (through
  // the tied projector), and the projector has no weight of its own.
  model->train();
  torch::nn::functional::cross_entropy(model->forward(*batch, rows),
                                       torch::tensor({7, 9}, torch::kLong))
      .backward();
  torch::Tensor grad = model->distilbert->embeddings->word_embeddings->weight.grad();
  ASSERT_TRUE(grad.defined());
  EXPECT_GT(grad[20].abs().sum().item<float>(), 0.0f);
  for (const auto& item : model->named_parameters()) {
    EXPECT_NE(item.key(), "vocab_projector.weight");
  }
}

TEST(DistilBertTest, MaskedLmComputeDtypeLogitsAreBf16UnderAutocastAndForwardsFp32) {
  torch::manual_seed(4);
  DistilBertConfig config = *DistilBertConfig::Preset("tiny", 50);
  DistilBertForMaskedLM model(config);
  model->eval();
  auto batch = Batch::FromSequences({{3, 7, 8, 4}, {3, 9, 4}}, config.max_position_embeddings);
  ASSERT_TRUE(batch.ok());
  torch::Tensor rows = torch::tensor({1, 2, 5}, torch::kLong);
  EXPECT_EQ(model->ComputeDtypeLogits(*batch, rows).scalar_type(), torch::kFloat);
  AutocastBf16 autocast;
  torch::Tensor computed = model->ComputeDtypeLogits(*batch, rows);
  torch::Tensor logits = model->forward(*batch, rows);
  EXPECT_EQ(computed.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(logits.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(computed.to(torch::kFloat), logits));
}

TEST(DistilBertTest, MaskedLmTiedTableGradientUnderBf16EqualsTheComposedOnes) {
  torch::manual_seed(5);
  DistilBertConfig config = *DistilBertConfig::Preset("tiny", 50);
  config.dropout = config.attention_dropout = 0.0;
  DistilBertForMaskedLM model(config);
  model->train();
  // Token 0 is the padding id: its lookups contribute nothing, its projector row does.
  auto batch = Batch::FromSequences({{3, 7, 0, 7, 4}, {3, 9, 4}}, config.max_position_embeddings);
  ASSERT_TRUE(batch.ok());
  torch::Tensor rows = torch::tensor({1, 2, 6}, torch::kLong);
  torch::Tensor weights = torch::randn({3, 50});
  const torch::Tensor& table = model->distilbert->embeddings->word_embeddings->weight;
  auto gradients = [&](bool fused) {
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
    AutocastBf16 autocast;
    torch::Tensor logits;
    if (fused) {
      logits = model->ComputeDtypeLogits(*batch, rows);
    } else {  // the head composed by hand on the plain lookup
      torch::Tensor hidden = model->distilbert(*batch).index_select(0, rows);
      torch::Tensor h = model->vocab_layer_norm(
          torch::gelu(model->vocab_transform(hidden)).to(torch::kFloat));
      logits = torch::nn::functional::linear(h, table, model->vocab_projector->bias);
    }
    (logits.to(torch::kFloat) * weights).sum().backward();
    std::vector<torch::Tensor> grads;
    for (auto& p : model->parameters()) grads.push_back(p.grad().clone());
    return std::make_pair(logits.detach(), grads);
  };
  auto [fused_logits, fused] = gradients(true);
  auto [composed_logits, composed] = gradients(false);
  EXPECT_TRUE(torch::equal(fused_logits, composed_logits));
  ASSERT_EQ(fused.size(), composed.size());
  for (size_t i = 0; i < fused.size(); ++i) {
    ASSERT_EQ(fused[i].scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::allclose(fused[i], composed[i], 1e-5, 1e-6)) << "parameter " << i;
  }
  // The padding row's gradient is the projector's alone: its bias-free logit column times h.
  EXPECT_GT(fused[0][0].abs().sum().item<float>(), 0.0f);
}

DistilBertForSequenceClassification TinyModel() {
  torch::manual_seed(7);
  DistilBertConfig config = *DistilBertConfig::Preset("tiny", 50);
  config.max_position_embeddings = 16;
  DistilBertForSequenceClassification model(config);
  model->eval();
  return model;
}

TEST(DistilBertTest, PackedBatchEqualsOneSequenceAtATime) {
  DistilBertForSequenceClassification model = TinyModel();
  torch::NoGradGuard no_grad;
  std::vector<std::vector<int32_t>> sequences = {
      {2, 10, 11, 12, 3}, {2, 20, 3}, {2, 30, 31, 32, 33, 34, 35, 3}, {2, 3}};
  Batch batch = *Batch::FromSequences(sequences, 16);
  EXPECT_FALSE(batch.dense());
  torch::Tensor logits = model->forward(batch);
  ASSERT_EQ(logits.sizes().vec(), (std::vector<int64_t>{4, 2}));
  for (size_t i = 0; i < sequences.size(); ++i) {
    Batch single = *Batch::FromSequences({sequences[i]}, 16);
    torch::Tensor alone = model->forward(single);
    EXPECT_TRUE(torch::allclose(alone[0], logits[i], 1e-5, 1e-6)) << i;
  }
  // The same batch given Hugging Face style (padded ids + mask).
  torch::Tensor ids = torch::zeros({4, 8}, torch::kLong), mask = torch::zeros({4, 8}, torch::kLong);
  for (size_t i = 0; i < sequences.size(); ++i) {
    for (size_t j = 0; j < sequences[i].size(); ++j) {
      ids[i][j] = sequences[i][j];
      mask[i][j] = 1;
    }
  }
  Batch padded = *Batch::FromPadded(ids, mask, 16);
  EXPECT_TRUE(torch::allclose(model->forward(padded), logits, 1e-5, 1e-6));
}

// The attention gathers have a hand-written backward; compare it with autograd's own on the
// same computation done one sequence at a time (no padding, no junk rows).
TEST(DistilBertTest, PackedGradientsEqualOneSequenceAtATime) {
  DistilBertConfig config = *DistilBertConfig::Preset("tiny", 50);
  config.dropout = config.attention_dropout = config.seq_classif_dropout = 0;
  torch::manual_seed(11);
  DistilBertForSequenceClassification model(config);
  model->train();
  std::vector<std::vector<int32_t>> sequences = {
      {2, 10, 11, 12, 3}, {2, 20, 3}, {2, 30, 31, 32, 33, 34, 35, 3}};
  torch::Tensor labels = torch::tensor({1, 0, 1}, torch::kLong);
  auto gradients = [&](auto loss_fn) {
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
    loss_fn().backward();
    std::vector<torch::Tensor> out;
    for (auto& p : model->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  auto packed = gradients([&] {
    return torch::cross_entropy_loss(model->forward(*Batch::FromSequences(sequences, 16)), labels,
                                     {}, torch::Reduction::Sum);
  });
  auto single = gradients([&] {
    torch::Tensor loss = torch::zeros({});
    for (size_t i = 0; i < sequences.size(); ++i) {
      loss = loss + torch::cross_entropy_loss(
                        model->forward(*Batch::FromSequences({sequences[i]}, 16)),
                        labels.slice(0, i, i + 1), {}, torch::Reduction::Sum);
    }
    return loss;
  });
  for (size_t i = 0; i < packed.size(); ++i) {
    EXPECT_TRUE(torch::allclose(packed[i], single[i], 1e-4, 1e-6)) << i;
  }
}

// 16 sequences of very different lengths (for a model with 64 positions): the attention runs
// in several length groups. Short and long interleaved, so groups are not contiguous in the
// packed order.
std::vector<std::vector<int32_t>> MixedLengthSequences() {
  std::vector<std::vector<int32_t>> sequences;
  for (int i = 0; i < 16; ++i) {
    const int length = i % 2 == 0 ? 3 + i % 3 : 40 + i;
    std::vector<int32_t> sequence = {2};
    for (int j = 0; j < length; ++j) sequence.push_back(5 + (i * 7 + j) % 40);
    sequence.push_back(3);
    sequences.push_back(sequence);
  }
  return sequences;
}

// The tiny preset with room for MixedLengthSequences() and every dropout probability `p`.
DistilBertConfig MixedLengthConfig(double p) {
  DistilBertConfig config = *DistilBertConfig::Preset("tiny", 50);
  config.max_position_embeddings = 64;
  config.dropout = config.attention_dropout = config.seq_classif_dropout = p;
  return config;
}

// Logits and every parameter's gradient (as fp64) of one training pass, dropout drawn from
// `seed`.
std::vector<torch::Tensor> LogitsAndGradients(DistilBertForSequenceClassification& model,
                                              const Batch& batch, const torch::Tensor& labels,
                                              uint64_t seed, bool bf16_autocast = false) {
  for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
  torch::manual_seed(seed);
  torch::Tensor logits;
  {
    std::optional<AutocastBf16> autocast;
    if (bf16_autocast) autocast.emplace();
    logits = model->forward(batch);
  }
  torch::cross_entropy_loss(logits, labels, {}, torch::Reduction::Sum).backward();
  std::vector<torch::Tensor> out = {logits.detach().to(torch::kDouble)};
  for (auto& p : model->parameters()) out.push_back(p.grad().to(torch::kDouble));
  return out;
}

// A copy of `model`'s weights in a fresh model of the same configuration, as `dtype`.
DistilBertForSequenceClassification CopyOf(DistilBertForSequenceClassification& model,
                                           const DistilBertConfig& config,
                                           torch::ScalarType dtype) {
  DistilBertForSequenceClassification copy(config);
  copy->to(dtype);
  torch::NoGradGuard no_grad;
  auto from = model->parameters();
  auto to = copy->parameters();
  for (size_t i = 0; i < from.size(); ++i) to[i].copy_(from[i]);
  return copy;
}

// On the CPU, fp32 and bf16 attention runs as one fused autograd node (the attention core,
// with MaskedSoftmax); fp64 takes libtorch's composed ops with an additive mask. The same
// weights through both, with every dropout on and the same seed, give the same logits and
// gradients: the core regenerates in its backward exactly the dropout masks FastDropout draws.
TEST(DistilBertTest, AttentionCoreMatchesComposedOpsWithDropout) {
  const DistilBertConfig config = MixedLengthConfig(0.2);
  torch::manual_seed(17);
  DistilBertForSequenceClassification composed(config);
  composed->to(torch::kDouble);
  DistilBertForSequenceClassification core = CopyOf(composed, config, torch::kFloat);
  composed->train();
  core->train();
  Batch batch = *Batch::FromSequences(MixedLengthSequences(), 64);
  ASSERT_GE(AttentionLayout::Make(batch, config.n_heads).groups.size(), 2u);
  torch::Tensor labels = torch::randint(0, 2, {16}, torch::kLong);
  auto expected = LogitsAndGradients(composed, batch, labels, 5);
  auto got = LogitsAndGradients(core, batch, labels, 5);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(torch::allclose(got[i], expected[i], 1e-3, 1e-5)) << i;
  }
  // Dropout acted: another seed gives other logits.
  auto other = LogitsAndGradients(core, batch, labels, 6);
  EXPECT_FALSE(torch::allclose(other[0], got[0], 1e-3, 1e-5));
}

// The bf16 path (autocast training: the fused q/k/v weight built in bf16, bf16 scores, fp32
// softmax, bf16 products) gives gradients of the size and direction of the fp32 ones.
TEST(DistilBertTest, Bf16AttentionCoreGradientsFollowFp32) {
  const DistilBertConfig config = MixedLengthConfig(0);
  torch::manual_seed(19);
  DistilBertForSequenceClassification model(config);
  model->train();
  Batch batch = *Batch::FromSequences(MixedLengthSequences(), 64);
  torch::Tensor labels = torch::randint(0, 2, {16}, torch::kLong);
  auto fp32 = LogitsAndGradients(model, batch, labels, 1);
  auto bf16 = LogitsAndGradients(model, batch, labels, 1, /*bf16_autocast=*/true);
  EXPECT_TRUE(torch::allclose(bf16[0], fp32[0], 0.05, 0.05));
  for (size_t i = 1; i < fp32.size(); ++i) {
    const double norm = fp32[i].norm().item<double>();
    if (norm < 1e-6) continue;  // e.g. embedding rows no token used
    const double bf16_norm = bf16[i].norm().item<double>();
    EXPECT_GT((bf16[i] * fp32[i]).sum().item<double>() / (bf16_norm * norm), 0.99)
        << "direction of parameter " << i - 1;
    EXPECT_NEAR(bf16_norm / norm, 1.0, 0.05) << "size of parameter " << i - 1;
  }
}

// Sequences of very different lengths: the attention runs in several length groups.
TEST(DistilBertTest, LengthGroupsEqualOneSequenceAtATimeForwardAndBackward) {
  const DistilBertConfig config = MixedLengthConfig(0);
  torch::manual_seed(13);
  DistilBertForSequenceClassification model(config);
  model->train();
  std::vector<std::vector<int32_t>> sequences = MixedLengthSequences();
  std::vector<int64_t> label_values;
  for (int i = 0; i < 16; ++i) label_values.push_back(i % 3 == 0);
  Batch batch = *Batch::FromSequences(sequences, 64);
  const AttentionLayout layout = AttentionLayout::Make(batch, config.n_heads);
  ASSERT_GE(layout.groups.size(), 2u);
  int64_t grouped = 0;
  for (const auto& group : layout.groups) {
    grouped += group.sequences;
    EXPECT_LE(group.length, batch.max_len);
  }
  EXPECT_EQ(grouped, 16);
  EXPECT_LT(layout.groups.front().length, batch.max_len) << "the short group is padded less";

  torch::Tensor labels = torch::tensor(label_values, torch::kLong);
  auto gradients = [&](auto loss_fn, torch::Tensor* logits) {
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
    loss_fn(logits).backward();
    std::vector<torch::Tensor> out;
    for (auto& p : model->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  torch::Tensor packed_logits, single_logits;
  auto packed = gradients(
      [&](torch::Tensor* logits) {
        *logits = model->forward(batch);
        return torch::cross_entropy_loss(*logits, labels, {}, torch::Reduction::Sum);
      },
      &packed_logits);
  auto single = gradients(
      [&](torch::Tensor* logits) {
        std::vector<torch::Tensor> rows;
        for (const auto& sequence : sequences) {
          rows.push_back(model->forward(*Batch::FromSequences({sequence}, 64)));
        }
        *logits = torch::cat(rows);
        return torch::cross_entropy_loss(*logits, labels, {}, torch::Reduction::Sum);
      },
      &single_logits);
  EXPECT_TRUE(torch::allclose(packed_logits, single_logits, 1e-4, 1e-5));
  for (size_t i = 0; i < packed.size(); ++i) {
    EXPECT_TRUE(torch::allclose(packed[i], single[i], 1e-3, 1e-5)) << i;
  }
}

// bf16 inference runs the encoder's Linear layers packed (oneDNN, fused epilogues) and gives
// what libtorch's bf16 autocast path gives, up to bf16 rounding.
TEST(DistilBertTest, PackedBf16InferenceMatchesAutocastPath) {
  if (!PackedLinearAvailable()) GTEST_SKIP() << "built without oneDNN";
  DistilBertForSequenceClassification model = TinyModel();
  std::vector<std::vector<int32_t>> sequences = {
      {2, 10, 11, 12, 3}, {2, 20, 3}, {2, 30, 31, 32, 33, 34, 35, 3}, {2, 3}};
  Batch batch = *Batch::FromSequences(sequences, 16);
  torch::Tensor fp32;
  {
    torch::NoGradGuard no_grad;
    fp32 = model->forward(batch);
  }
  model->SetLinearDtype(torch::kBFloat16);
  AutocastBf16 autocast;
  torch::Tensor autocast_path;
  {
    // With gradients recorded the model takes libtorch's path (the packed one is inference
    // only).
    torch::AutoGradMode grad(true);
    autocast_path = model->forward(batch).detach();
  }
  const int64_t calls_before = PackedLinearCalls();
  torch::Tensor packed;
  {
    torch::NoGradGuard no_grad;
    packed = model->forward(batch);
  }
  EXPECT_GT(PackedLinearCalls(), calls_before) << "the packed path did not run";
  EXPECT_TRUE(torch::allclose(packed, autocast_path, 0.05, 0.05))
      << packed << autocast_path;
  EXPECT_TRUE(torch::allclose(packed, fp32, 0.1, 0.1)) << packed << fp32;
}

// fp32 inference runs packed too (oneDNN's fp32 kernels, weights packed once) and gives
// libtorch's fp32 result up to summation order.
TEST(DistilBertTest, PackedFp32InferenceMatchesLibtorchPath) {
  if (!PackedLinearAvailable()) GTEST_SKIP() << "built without oneDNN";
  DistilBertForSequenceClassification model = TinyModel();
  model->eval();
  Batch batch = *Batch::FromSequences(
      {{2, 10, 11, 12, 3}, {2, 20, 3}, {2, 30, 31, 32, 33, 34, 35, 3}, {2, 3}}, 16);
  torch::Tensor libtorch_path;
  {
    torch::AutoGradMode grad(true);  // gradients recorded: libtorch's path
    libtorch_path = model->forward(batch).detach();
  }
  const int64_t calls_before = PackedLinearCalls();
  torch::Tensor packed;
  {
    torch::NoGradGuard no_grad;
    packed = model->forward(batch);
  }
  EXPECT_GT(PackedLinearCalls(), calls_before) << "the packed path did not run";
  EXPECT_EQ(packed.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::allclose(packed, libtorch_path, 1e-4, 1e-5)) << packed << libtorch_path;
}

// And the packed backward against finite differences along a random direction.
TEST(DistilBertTest, PackedGradientsMatchFiniteDifferences) {
  DistilBertConfig config = *DistilBertConfig::Preset("tiny", 50);
  config.dropout = config.attention_dropout = config.seq_classif_dropout = 0;
  torch::manual_seed(12);
  DistilBertForSequenceClassification model(config);
  model->to(torch::kDouble);
  model->train();
  Batch batch = *Batch::FromSequences({{2, 10, 11, 12, 3}, {2, 20, 3}, {2, 30, 31, 3}}, 16);
  torch::Tensor labels = torch::tensor({1, 0, 1}, torch::kLong);
  auto loss = [&] { return torch::cross_entropy_loss(model->forward(batch), labels); };
  loss().backward();
  std::vector<torch::Tensor> directions;
  double analytic = 0;
  for (auto& p : model->parameters()) {
    directions.push_back(torch::randn_like(p));
    analytic += (p.grad() * directions.back()).sum().item<double>();
  }
  const double eps = 1e-6;
  auto shifted = [&](double step) {
    torch::NoGradGuard no_grad;
    auto params = model->parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].add_(directions[i], step);
    double value = loss().item<double>();
    for (size_t i = 0; i < params.size(); ++i) params[i].sub_(directions[i], step);
    return value;
  };
  double numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
  EXPECT_NEAR(analytic, numeric, 1e-6 * std::max(0.1, std::abs(numeric)));
}

// The row-sparse word-embedding gradient (added into the weight's .grad() buffer, outside
// autograd) equals autograd's dense one, padding row and repeated ids included, and two
// backwards accumulate as autograd's would.
TEST(DistilBertTest, RowSparseEmbeddingGradientEqualsTheDenseOne) {
  torch::manual_seed(11);
  DistilBertForSequenceClassification dense = TinyModel();
  DistilBertForSequenceClassification sparse = TinyModel();
  {
    torch::NoGradGuard no_grad;
    for (auto& item : sparse->named_parameters()) {
      item.value().copy_(dense->named_parameters()[item.key()]);
    }
  }
  sparse->distilbert->embeddings->row_sparse_gradient = true;
  // Dropout off (eval) but gradients on: the two forwards must be the same function.
  dense->eval();
  sparse->eval();
  sparse->distilbert->embeddings->train();  // the switch applies in training only
  sparse->distilbert->embeddings->dropout = 0.0;
  Batch batch = *Batch::FromSequences({{2, 10, 11, 10, 3}, {2, 5, 3}, {2, 7, 7, 7, 3}}, 16);
  // Autograd's hooks on the weight fire only for the dense path: the row-sparse one bypasses it.
  int dense_hooks = 0, sparse_hooks = 0;
  dense->distilbert->embeddings->word_embeddings->weight.register_hook(
      [&](const torch::Tensor&) { ++dense_hooks; });
  sparse->distilbert->embeddings->word_embeddings->weight.register_hook(
      [&](const torch::Tensor&) { ++sparse_hooks; });
  for (int pass = 0; pass < 2; ++pass) {
    dense->forward(batch).pow(2).sum().backward();
    sparse->forward(batch).pow(2).sum().backward();
  }
  const torch::Tensor want = dense->distilbert->embeddings->word_embeddings->weight.grad();
  const torch::Tensor got = sparse->distilbert->embeddings->word_embeddings->weight.grad();
  ASSERT_TRUE(got.defined());
  EXPECT_EQ(dense_hooks, 2);
  EXPECT_EQ(sparse_hooks, 0);
  EXPECT_LT((got - want).abs().max().item<double>(), 1e-5);
  EXPECT_GT(want.abs().max().item<double>(), 1e-3);
  EXPECT_EQ(got[0].abs().max().item<double>(), 0.0) << "the padding row gets no gradient";
  // The other parameters' gradients still come through autograd.
  EXPECT_LT((sparse->classifier->weight.grad() - dense->classifier->weight.grad())
                .abs()
                .max()
                .item<double>(),
            1e-5);
}

TEST(DistilBertTest, DropoutOnlyInTraining) {
  DistilBertForSequenceClassification model = TinyModel();
  Batch batch = *Batch::FromSequences({{2, 10, 11, 3}, {2, 5, 3}}, 16);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(model->forward(batch), model->forward(batch)));
  model->train();
  EXPECT_FALSE(torch::equal(model->forward(batch), model->forward(batch)));
}

TEST(DistilBertTest, Bf16AutocastTrainingKeepsFp32MasterWeights) {
  DistilBertForSequenceClassification model = TinyModel();
  model->train();
  Batch batch = *Batch::FromSequences({{2, 10, 11, 3}, {2, 5, 3}}, 16);
  torch::Tensor labels = torch::tensor({0, 1}, torch::kLong);
  torch::Tensor loss;
  {
    AutocastBf16 autocast;
    torch::Tensor logits = model->forward(batch);
    EXPECT_EQ(logits.scalar_type(), torch::kFloat);
    loss = torch::cross_entropy_loss(logits, labels);
  }
  loss.backward();
  for (const auto& [name, tensor] : StateDict(model)) {
    EXPECT_EQ(tensor.scalar_type(), torch::kFloat) << name;
    ASSERT_TRUE(tensor.grad().defined()) << name;
    EXPECT_EQ(tensor.grad().scalar_type(), torch::kFloat) << name;
  }
}

TEST(DistilBertTest, Bf16InferenceIsCloseToFp32) {
  DistilBertForSequenceClassification model = TinyModel();
  torch::NoGradGuard no_grad;
  Batch batch = *Batch::FromSequences({{2, 10, 11, 12, 3}, {2, 20, 3}}, 16);
  torch::Tensor fp32 = torch::softmax(model->forward(batch), -1);
  model->SetLinearDtype(torch::kBFloat16);
  EXPECT_EQ(model->classifier->weight.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(model->distilbert->embeddings->LayerNorm->weight.scalar_type(), torch::kFloat);
  torch::Tensor bf16;
  {
    AutocastBf16 autocast;
    bf16 = torch::softmax(model->forward(batch), -1);
  }
  EXPECT_EQ(bf16.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::allclose(fp32, bf16, 0, 2e-2)) << fp32 << bf16;
  // Everything in bf16 works too (slower on this CPU: bf16 LayerNorm).
  model->to(torch::kBFloat16);
  EXPECT_TRUE(torch::allclose(fp32, torch::softmax(model->forward(batch), -1), 0, 3e-2));
}

TEST(DistilBertTest, FusedWeightsFollowParameterChanges) {
  DistilBertForSequenceClassification model = TinyModel();
  Batch batch = *Batch::FromSequences({{2, 10, 11, 3}, {2, 5, 3}}, 16);
  c10::InferenceMode inference;
  torch::Tensor before = model->forward(batch);
  {
    auto& attention = model->distilbert->transformer->layer[0]->as<TransformerBlock>()->attention;
    attention->k_lin->weight.mul_(3.0);  // bumps the version counter
  }
  torch::Tensor after = model->forward(batch);
  EXPECT_FALSE(torch::allclose(before, after));
}

}  // namespace
}  // namespace murmur::model
