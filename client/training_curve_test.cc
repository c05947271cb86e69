#include "client/training_curve.h"

#include <gtest/gtest.h>

namespace murmur::client {
namespace {

int Count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(TrainingCurveTest, DrawsBothSeriesWithLabels) {
  std::string svg = TrainingCurveSvg({{1, 0.7}, {10, 0.5}, {20, 0.4}}, {{10, 0.71}, {20, 0.78}});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(Count(svg, "<polyline"), 2);
  EXPECT_EQ(Count(svg, "<circle"), 2);  // one marker per epoch evaluation
  EXPECT_NE(svg.find("0.780"), std::string::npos);
  EXPECT_NE(svg.find("step 20"), std::string::npos);
}

TEST(TrainingCurveTest, EmptySeriesStillValid) {
  std::string svg = TrainingCurveSvg({}, {});
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

}  // namespace
}  // namespace murmur::client
