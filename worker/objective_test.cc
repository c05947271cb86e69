#include "worker/objective.h"

#include <gtest/gtest.h>

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

TEST(MaskTokensTest, FollowsBertsProportions) {
  auto sequences = Sequences(4000, 30);
  MaskedTokens masked = MaskTokens(sequences, Seeds(4000, 9), 0.15, kMask, kVocab);
  const double interior = 4000.0 * 30;
  const double chosen = static_cast<double>(masked.rows.size());
  EXPECT_NEAR(chosen / interior, 0.15, 0.005);
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
    for (size_t j = 0; j < sequences[i].size(); ++j) changed += sequences[i][j] != masked.inputs[i][j];
  }
  EXPECT_EQ(changed, mask + replaced);
}

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
}

}  // namespace
}  // namespace murmur::worker
