#include "client/training_curve.h"

#include <gtest/gtest.h>

#include <cmath>

namespace murmur::client {
namespace {

int Count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(NiceTicksTest, RoundValuesThatCoverTheRange) {
  EXPECT_EQ(NiceTicks(0, 100, 5), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  EXPECT_EQ(NiceTicks(0, 1660, 8), (std::vector<double>{0, 200, 400, 600, 800, 1000, 1200, 1400,
                                                        1600, 1800}));
  const std::vector<double> accuracy = NiceTicks(0.5, 0.82, 5);
  ASSERT_FALSE(accuracy.empty());
  EXPECT_LE(accuracy.front(), 0.5);
  EXPECT_GE(accuracy.back(), 0.82);
  EXPECT_NEAR(accuracy[1] - accuracy[0], 0.05, 1e-12);
  EXPECT_EQ(NiceTicks(3, 3, 5).size(), 2u) << "an empty range still gets an axis";
}

TEST(TrainingCurveTest, TwoPanelsWithTicksEpochsAndNamedSeries) {
  TrainingCurves curves;
  curves.train_loss = {{1, 0.70}, {500, 0.50}, {1000, 0.45}, {1660, 0.40}};
  curves.validation_loss = {{830, 0.48}, {1660, 0.44}};
  curves.accuracy = {{830, 0.7985}, {1660, 0.8012}};
  curves.epoch_ends = {830, 1660};
  const std::string svg = TrainingCurveSvg(curves);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(Count(svg, "<polyline"), 3);
  EXPECT_EQ(Count(svg, "<circle"), 4);  // validation loss and accuracy per evaluation
  EXPECT_EQ(Count(svg, "class=\"epoch\""), 4);  // each epoch marked in both panels
  EXPECT_NE(svg.find("epoch 2"), std::string::npos);
  EXPECT_NE(svg.find("validation accuracy"), std::string::npos);
  EXPECT_NE(svg.find("training loss"), std::string::npos);
  EXPECT_NE(svg.find("0.8012"), std::string::npos);
  EXPECT_NE(svg.find(">1600<"), std::string::npos) << "round step ticks";
  EXPECT_EQ(svg.find(">-"), std::string::npos) << "no negative step or loss ticks";
  // The accuracy axis spans at least 0.2 (from chance): a 0.003 change stays a small change.
  EXPECT_NE(svg.find(">0.50<"), std::string::npos);
}

TEST(TrainingCurveTest, MaskedLmAccuracyIsNamedAsSuch) {
  TrainingCurves curves;
  curves.train_loss = {{1, 7.0}, {100, 5.0}};
  curves.accuracy = {{100, 0.31}};
  curves.masked_lm = true;
  const std::string svg = TrainingCurveSvg(curves);
  EXPECT_NE(svg.find("masked-token accuracy"), std::string::npos);
  EXPECT_EQ(svg.find(">validation accuracy<"), std::string::npos);
}

TEST(TrainingCurveTest, EmptySeriesStillValid) {
  const std::string svg = TrainingCurveSvg({});
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

}  // namespace
}  // namespace murmur::client
