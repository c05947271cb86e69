#include "worker/objective.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

namespace murmur::worker {
namespace {

constexpr int32_t kMask = 4;
constexpr int64_t kVocab = 1000;

std::vector<std::vector<int32_t>> Sequences(int count, int length) {
  std::vector<std::vector<int32_t>> out;
  for (int i = 0; i < count; ++i) {
    std::vector<int32_t> s = {2};  // [CLS]
    for (int j = 0; j < length; ++j) s.push_back(100 + (i * 7 + j) % 800);
    s.push_back(3);  // [SEP]
    out.push_back(s);
  }
  return out;
}

std::vector<uint64_t> Seeds(size_t count, uint64_t base) {
  std::vector<uint64_t> seeds;
  for (size_t i = 0; i < count; ++i) seeds.push_back(base * 1000 + i);
  return seeds;
}

TEST(MaskTokensTest, ChoosesInteriorTokensAndPointsAtTheirPackedRows) {
  std::vector<std::vector<int32_t>> sequences = {{2, 3}, {2, 50, 51, 52, 3}, {2, 60, 3}};
  MaskedTokens masked = MaskTokens(sequences, Seeds(3, 1), 0.15, kMask, kVocab);
  // [CLS] [SEP] has nothing to choose; the others get at least one token each.
  std::vector<int> chosen_per_sequence(3, 0);
  for (size_t k = 0; k < masked.rows.size(); ++k) {
    const int64_t row = masked.rows[k];
    // Packed rows: sequence 0 is rows 0-1, sequence 1 rows 2-6, sequence 2 rows 7-9.
    const int sequence = row < 2 ? 0 : (row < 7 ? 1 : 2);
    const int64_t position = row - (sequence == 0 ? 0 : (sequence == 1 ? 2 : 7));
    ++chosen_per_sequence[sequence];
    EXPECT_GT(position, 0) << "never [CLS]";
    EXPECT_LT(position, static_cast<int64_t>(sequences[sequence].size()) - 1) << "never [SEP]";
    EXPECT_EQ(masked.targets[k], sequences[sequence][position]);
    EXPECT_EQ(masked.sequences[k], sequence);
    EXPECT_EQ(masked.positions[k], position);
  }
  EXPECT_EQ(chosen_per_sequence[0], 0);
  EXPECT_GE(chosen_per_sequence[1], 1);
  EXPECT_EQ(chosen_per_sequence[2], 1);
  EXPECT_EQ(masked.inputs[0], sequences[0]);
}

TEST(MaskTokensTest, DependsOnTheSeedsOnly) {
  auto sequences = Sequences(64, 20);
  MaskedTokens a = MaskTokens(sequences, Seeds(64, 5), 0.15, kMask, kVocab);
  MaskedTokens b = MaskTokens(sequences, Seeds(64, 5), 0.15, kMask, kVocab);
  MaskedTokens c = MaskTokens(sequences, Seeds(64, 6), 0.15, kMask, kVocab);
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_NE(a.rows, c.rows);
  // A sequence's draw does not depend on its neighbours: the same seed masks it the same way
  // in another batch (evaluation on any number of ranks).
  MaskedTokens alone = MaskTokens({sequences[10]}, {Seeds(64, 5)[10]}, 0.15, kMask, kVocab);
  EXPECT_EQ(alone.inputs[0], a.inputs[10]);
}

// The rate is the job's mask_probability: BERT's 15% and a higher one (Wettig et al.).
class MaskTokensRateTest : public ::testing::TestWithParam<double> {};

TEST_P(MaskTokensRateTest, ChoosesTheRateAndFollowsBertsProportions) {
  const double probability = GetParam();
  auto sequences = Sequences(4000, 30);
  MaskedTokens masked = MaskTokens(sequences, Seeds(4000, 9), probability, kMask, kVocab);
  const double interior = 4000.0 * 30;
  const double chosen = static_cast<double>(masked.rows.size());
  EXPECT_NEAR(chosen / interior, probability, 0.005);
  int mask = 0, kept = 0, replaced = 0;
  for (size_t k = 0; k < masked.rows.size(); ++k) {
    const int64_t row = masked.rows[k];
    const int32_t now = masked.inputs[row / 32][row % 32];
    if (now == kMask) {
      ++mask;
    } else if (now == masked.targets[k]) {
      ++kept;
    } else {
      ++replaced;
      EXPECT_GE(now, 0);
      EXPECT_LT(now, kVocab);
    }
  }
  EXPECT_NEAR(mask / chosen, 0.8, 0.01);
  EXPECT_NEAR(kept / chosen, 0.1, 0.01);  // (a random draw equal to the original is rare)
  EXPECT_NEAR(replaced / chosen, 0.1, 0.01);
  // Nothing outside the chosen rows changed.
  int changed = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    for (size_t j = 0; j < sequences[i].size(); ++j)
      changed += sequences[i][j] != masked.inputs[i][j];
  }
  EXPECT_EQ(changed, mask + replaced);
}

INSTANTIATE_TEST_SUITE_P(Rates, MaskTokensRateTest, ::testing::Values(0.15, 0.4));

TEST(ObjectiveTest, ParsesKindsAndRejectsUnknown) {
  EXPECT_EQ(*ParseObjectiveKind("classification"), ObjectiveKind::kClassification);
  EXPECT_EQ(*ParseObjectiveKind("masked_lm"), ObjectiveKind::kMaskedLm);
  EXPECT_FALSE(ParseObjectiveKind("mlm").ok());
  ObjectiveOptions options;
  options.kind = ObjectiveKind::kMaskedLm;
  options.preset = "tiny";
  options.vocab_size = 50;
  EXPECT_FALSE(Objective::Create(options).ok()) << "masked-LM needs the [MASK] id";
  options.mask_token_id = 4;
  EXPECT_TRUE(Objective::Create(options).ok());
  EXPECT_EQ(*ParseObjectiveKind("replaced_token_detection"),
            ObjectiveKind::kReplacedTokenDetection);
  options.kind = ObjectiveKind::kReplacedTokenDetection;
  EXPECT_TRUE(Objective::Create(options).ok());
  options.mask_token_id = -1;
  EXPECT_FALSE(Objective::Create(options).ok()) << "its generator needs the [MASK] id too";
}

TEST(CorruptTest, PutsEachSampleAtItsRowAndLabelsOnlyRealReplacements) {
  const std::vector<std::vector<int32_t>> sequences = {
      {2, 10, 11, 12, 3}, {2, 20, 3}, {2, 30, 31, 3}};
  MaskedTokens masked;
  masked.rows = {1, 3, 6, 10};  // 10, 12 of the first; 20; 31 of the third
  masked.targets = {10, 12, 20, 31};
  masked.sequences = {0, 0, 1, 2};
  masked.positions = {1, 3, 1, 2};
  CorruptedTokens corrupted = Corrupt(sequences, masked, {99, 12, 21, 98});
  EXPECT_EQ(corrupted.inputs[0], (std::vector<int32_t>{2, 99, 11, 12, 3}));
  EXPECT_EQ(corrupted.inputs[1], (std::vector<int32_t>{2, 21, 3}));
  EXPECT_EQ(corrupted.inputs[2], (std::vector<int32_t>{2, 30, 98, 3}));
  // One label per token in packed order; the sample equal to its original (12) is not replaced.
  EXPECT_EQ(corrupted.replaced, (std::vector<float>{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0}));
}

std::unique_ptr<Objective> Classifier(double label_smoothing) {
  torch::manual_seed(5);
  ObjectiveOptions options;
  options.preset = "tiny";
  options.vocab_size = kVocab;
  options.dropout = 0;
  options.label_smoothing = label_smoothing;
  auto objective = Objective::Create(options);
  EXPECT_TRUE(objective.ok()) << objective.status();
  return *std::move(objective);
}

// Two classes: smoothing e puts 1 - e/2 on the label and e/2 on the other class, so the
// smoothed loss is that mix of the plain losses against the labels and against their flips.
TEST(ClassificationObjectiveTest, LabelSmoothingMixesInTheUniformTarget) {
  const auto sequences = Sequences(5, 9);
  const std::vector<int64_t> labels = {0, 1, 1, 0, 1}, flipped = {1, 0, 0, 1, 0};
  std::unique_ptr<Objective> plain = Classifier(0);
  const double to_labels = plain->ComputeLoss(sequences, labels, {}).sum.item<double>();
  const double to_flips = plain->ComputeLoss(sequences, flipped, {}).sum.item<double>();
  ASSERT_GT(std::abs(to_labels - to_flips), 1e-6) << "a fresh head must not score both the same";
  constexpr double kSmoothing = 0.2;
  std::unique_ptr<Objective> smoothed = Classifier(kSmoothing);
  Objective::Loss loss = smoothed->ComputeLoss(sequences, labels, {});
  EXPECT_EQ(loss.terms, 5);
  EXPECT_NEAR(loss.sum.item<double>(),
              (1 - kSmoothing / 2) * to_labels + kSmoothing / 2 * to_flips, 1e-5);
  loss.sum.backward();
  const at::Tensor& grad = smoothed->module().named_parameters()["classifier.weight"].grad();
  ASSERT_TRUE(grad.defined());
  EXPECT_GT(grad.abs().sum().item<double>(), 0);

  // Evaluation reports the plain cross-entropy, comparable across runs.
  at::Tensor counts = torch::zeros({smoothed->num_eval_counts()}, torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    smoothed->CountEvaluation(sequences, labels, {}, counts);
  }
  EXPECT_NEAR(smoothed->Summarize(counts).loss, to_labels / 5, 1e-5);
}

TEST(ClassificationObjectiveTest, LabelSmoothingIsCheckedAndForClassificationOnly) {
  ObjectiveOptions options;
  options.preset = "tiny";
  options.vocab_size = kVocab;
  options.label_smoothing = 1;
  EXPECT_FALSE(Objective::Create(options).ok());
  options.label_smoothing = -0.1;
  EXPECT_FALSE(Objective::Create(options).ok());
  options.label_smoothing = 0.1;
  options.kind = ObjectiveKind::kMaskedLm;
  options.mask_token_id = kMask;
  auto created = Objective::Create(options);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.status().message().find("classification only"), std::string::npos);
}

std::unique_ptr<Objective> ReplacedTokenObjective(bool bf16 = false) {
  torch::manual_seed(5);
  ObjectiveOptions options;
  options.bf16 = bf16;
  options.kind = ObjectiveKind::kReplacedTokenDetection;
  options.preset = "tiny";
  options.vocab_size = kVocab;
  options.mask_token_id = kMask;
  options.dropout = 0;
  auto objective = Objective::Create(options);
  EXPECT_TRUE(objective.ok()) << objective.status();
  return *std::move(objective);
}

TEST(ReplacedTokenObjectiveTest, LossIsAFunctionOfTheSeedsAndReachesBothModels) {
  std::unique_ptr<Objective> objective = ReplacedTokenObjective();
  EXPECT_EQ(objective->sparse_parameter(), "") << "the discriminator reads sampled ids";
  const auto sequences = Sequences(6, 20);
  Objective::Loss first = objective->ComputeLoss(sequences, {}, Seeds(6, 1));
  Objective::Loss again = objective->ComputeLoss(sequences, {}, Seeds(6, 1));
  Objective::Loss other = objective->ComputeLoss(sequences, {}, Seeds(6, 2));
  EXPECT_EQ(first.sum.item<double>(), again.sum.item<double>()) << "same seeds, same samples";
  EXPECT_NE(first.sum.item<double>(), other.sum.item<double>());
  EXPECT_EQ(first.terms, static_cast<int64_t>(
                             MaskTokens(sequences, Seeds(6, 1), 0.15, kMask, kVocab).rows.size()));
  // A fresh generator is near uniform over 1,000 tokens: its loss per masked token is ~ln 1000,
  // and the discriminator's (weighted 50, ~ln 2 per token at the start) adds to it.
  const double per_term = first.sum.item<double>() / static_cast<double>(first.terms);
  EXPECT_GT(per_term, std::log(1000.0) + 10);
  first.sum.backward();
  bool generator_grad = false, discriminator_grad = false;
  for (const auto& item : objective->module().named_parameters()) {
    if (!item.value().grad().defined() || item.value().grad().abs().sum().item<double>() == 0) {
      continue;
    }
    if (item.key().rfind("generator.", 0) == 0) generator_grad = true;
    if (item.key().rfind("discriminator_predictions.", 0) == 0) discriminator_grad = true;
  }
  EXPECT_TRUE(generator_grad);
  EXPECT_TRUE(discriminator_grad);

  at::Tensor counts = torch::zeros({objective->num_eval_counts()}, torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    objective->CountEvaluation(sequences, {}, Seeds(6, 1), counts);
  }
  EvalResult result = objective->Summarize(counts);
  EXPECT_EQ(result.examples, 6);
  EXPECT_NEAR(result.loss, per_term, 1e-4 * per_term);
  EXPECT_GT(result.detection_accuracy, 0);
  EXPECT_LE(result.detection_accuracy, 1);
  EXPECT_TRUE(result.f1.empty());
}

TEST(ReplacedTokenObjectiveTest, TrainsUnderBf16Autocast) {
  // The generator's projection out of the shared embeddings must keep the residual stream fp32.
  std::unique_ptr<Objective> objective = ReplacedTokenObjective(/*bf16=*/true);
  Objective::Loss loss = objective->ComputeLoss(Sequences(4, 12), {}, Seeds(4, 3));
  EXPECT_EQ(loss.sum.scalar_type(), torch::kFloat);
  EXPECT_TRUE(std::isfinite(loss.sum.item<double>()));
  loss.sum.backward();
}

}  // namespace
}  // namespace murmur::worker
