#include "client/training_curve.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace murmur::client {
namespace {

constexpr double kWidth = 800, kHeight = 420, kLeft = 70, kRight = 70, kTop = 40, kBottom = 50;

struct Range {
  double lo, hi;
  double Scale(double v) const { return hi > lo ? (v - lo) / (hi - lo) : 0.5; }
};

Range RangeOf(const std::vector<CurvePoint>& points, bool x, double pad) {
  Range r{1e300, -1e300};
  for (const auto& p : points) {
    double v = x ? p.x : p.y;
    r.lo = std::min(r.lo, v);
    r.hi = std::max(r.hi, v);
  }
  if (points.empty()) return {0, 1};
  double span = std::max(1e-9, r.hi - r.lo);
  return {r.lo - pad * span, r.hi + pad * span};
}

std::string Polyline(const std::vector<CurvePoint>& points, const Range& xr, const Range& yr,
                     const char* color, bool markers) {
  std::string out = absl::StrFormat("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
  std::string dots;
  for (const auto& p : points) {
    double px = kLeft + xr.Scale(p.x) * (kWidth - kLeft - kRight);
    double py = kHeight - kBottom - yr.Scale(p.y) * (kHeight - kTop - kBottom);
    absl::StrAppendFormat(&out, "%.1f,%.1f ", px, py);
    if (markers) {
      absl::StrAppendFormat(&dots, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>", px, py, color);
      absl::StrAppendFormat(&dots, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"%s\">%.3f</text>",
                            px + 6, py - 6, color, p.y);
    }
  }
  return out + "\"/>" + dots;
}

}  // namespace

std::string TrainingCurveSvg(const std::vector<CurvePoint>& loss,
                             const std::vector<CurvePoint>& accuracy) {
  std::vector<CurvePoint> all = loss;
  all.insert(all.end(), accuracy.begin(), accuracy.end());
  Range xr = RangeOf(all, true, 0.02);
  Range loss_range = RangeOf(loss, false, 0.1);
  Range acc_range = RangeOf(accuracy, false, 0.2);
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      kWidth, kHeight);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.0f\" y=\"24\" font-size=\"16\">murmur training: loss (blue, "
                        "left axis) and validation accuracy (orange, right axis)</text>\n",
                        kLeft);
  // Axes with end labels.
  absl::StrAppendFormat(&svg,
                        "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>"
                        "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>"
                        "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n",
                        kLeft, kHeight - kBottom, kWidth - kRight, kHeight - kBottom, kLeft, kTop,
                        kLeft, kHeight - kBottom, kWidth - kRight, kTop, kWidth - kRight,
                        kHeight - kBottom);
  absl::StrAppendFormat(
      &svg,
      "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">step %.0f</text>"
      "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"end\">step %.0f</text>"
      "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"end\" fill=\"#1f77b4\">%.3f</text>"
      "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"end\" fill=\"#1f77b4\">%.3f</text>"
      "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#ff7f0e\">%.3f</text>"
      "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" fill=\"#ff7f0e\">%.3f</text>\n",
      kLeft, kHeight - kBottom + 18, xr.lo, kWidth - kRight, kHeight - kBottom + 18, xr.hi,
      kLeft - 6, kHeight - kBottom, loss_range.lo, kLeft - 6, kTop + 10, loss_range.hi,
      kWidth - kRight + 6, kHeight - kBottom, acc_range.lo, kWidth - kRight + 6, kTop + 10,
      acc_range.hi);
  svg += Polyline(loss, xr, loss_range, "#1f77b4", false) + "\n";
  svg += Polyline(accuracy, xr, acc_range, "#ff7f0e", true) + "\n";
  svg += "</svg>\n";
  return svg;
}

}  // namespace murmur::client
