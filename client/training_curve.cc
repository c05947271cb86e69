#include "client/training_curve.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace murmur::client {
namespace {

constexpr double kWidth = 860, kLeft = 80, kRight = 30, kTitle = 36, kPanelHeight = 230,
                 kGap = 60, kBottom = 50;
constexpr char kTrainColor[] = "#1f77b4", kValidationColor[] = "#ff7f0e",
               kAccuracyColor[] = "#2ca02c";

struct Axis {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
  double Scale(double v) const { return hi > lo ? (v - lo) / (hi - lo) : 0.5; }
};

Axis MakeAxis(double lo, double hi, int ticks) {
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  Axis axis;
  axis.ticks = NiceTicks(lo, hi, ticks);
  axis.lo = axis.ticks.front();
  axis.hi = axis.ticks.back();
  return axis;
}

std::string Number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e9) return absl::StrFormat("%.0f", v);
  if (std::fabs(v) >= 0.1) return absl::StrFormat("%.2f", v);
  return absl::StrFormat("%.3g", v);
}

// One panel: frame, grid and ticks on both axes, the epoch marks, then the series.
class Panel {
 public:
  Panel(double top, const Axis& x, const Axis& y) : top_(top), x_(x), y_(y) {}

  double Px(double v) const { return kLeft + x_.Scale(v) * (kWidth - kLeft - kRight); }
  double Py(double v) const { return top_ + kPanelHeight - y_.Scale(v) * kPanelHeight; }

  void Frame(std::string* svg, const std::string& y_label, const std::vector<double>& epochs) const {
    for (double t : y_.ticks) {
      absl::StrAppendFormat(svg,
                            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                            kLeft, Py(t), kWidth - kRight, Py(t), kLeft - 6, Py(t) + 4, Number(t));
    }
    for (double t : x_.ticks) {
      absl::StrAppendFormat(svg,
                            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n",
                            Px(t), top_, Px(t), top_ + kPanelHeight, Px(t), top_ + kPanelHeight + 16,
                            Number(t));
    }
    for (size_t e = 0; e < epochs.size(); ++e) {
      absl::StrAppendFormat(svg,
                            "<line class=\"epoch\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                            "stroke=\"#888\" stroke-dasharray=\"4,3\"/>"
                            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#555\">epoch %d</text>\n",
                            Px(epochs[e]), top_, Px(epochs[e]), top_ + kPanelHeight,
                            Px(epochs[e]) - 40, top_ + 12, static_cast<int>(e) + 1);
    }
    absl::StrAppendFormat(svg,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                          "stroke=\"black\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
                          "transform=\"rotate(-90 %.1f %.1f)\">%s</text>\n",
                          kLeft, top_, kWidth - kLeft - kRight, kPanelHeight, kLeft - 55,
                          top_ + kPanelHeight / 2, kLeft - 55, top_ + kPanelHeight / 2, y_label);
  }

  void Series(std::string* svg, const std::vector<CurvePoint>& points, const char* color,
              bool markers) const {
    if (points.empty()) return;
    std::string line = absl::StrFormat(
        "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" points=\"", color,
        markers ? "2" : "1.5");
    std::string dots;
    // Values are written next to the markers when they fit (a few evaluations); with many,
    // only the last one's, so that the labels never cover each other.
    const bool label_all = points.size() <= 8;
    for (size_t i = 0; i < points.size(); ++i) {
      const CurvePoint& p = points[i];
      absl::StrAppendFormat(&line, "%.1f,%.1f ", Px(p.x), Py(p.y));
      if (!markers) continue;
      absl::StrAppendFormat(&dots, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\"/>",
                            Px(p.x), Py(p.y), label_all ? "4" : "3", color);
      if (label_all || i + 1 == points.size()) {
        absl::StrAppendFormat(&dots,
                              "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"%s\" "
                              "text-anchor=\"%s\">%.4f</text>",
                              Px(p.x) + (label_all ? 6 : -6), Py(p.y) - 8, color,
                              label_all ? "start" : "end", p.y);
      }
    }
    absl::StrAppend(svg, line, "\"/>", dots, "\n");
  }

 private:
  double top_;
  const Axis& x_;
  const Axis& y_;
};

void Legend(std::string* svg, double x, double y, const char* color, const std::string& text) {
  absl::StrAppendFormat(svg,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"4\" fill=\"%s\"/>"
                        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text>\n",
                        x, y - 4, color, x + 20, y, text);
}

}  // namespace

std::vector<double> NiceTicks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo, lo + 1};
  const double raw = (hi - lo) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  // The round step nearest to the raw one (by ratio).
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (std::fabs(std::log(m * magnitude / raw)) < std::fabs(std::log(step / raw))) {
      step = m * magnitude;
    }
  }
  std::vector<double> ticks;
  const double first = std::floor(lo / step + 1e-9) * step;
  for (double t = first; ticks.size() < 100; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
    if (t >= hi - step * 1e-9) break;
  }
  return ticks;
}

std::string TrainingCurveSvg(const TrainingCurves& curves) {
  double max_step = 1;
  for (const auto* series : {&curves.train_loss, &curves.validation_loss, &curves.accuracy}) {
    for (const CurvePoint& p : *series) max_step = std::max(max_step, p.x);
  }
  for (double e : curves.epoch_ends) max_step = std::max(max_step, e);
  const Axis x = MakeAxis(0, max_step, 8);  // steps start at 0, not at a padded negative

  double loss_lo = 1e300, loss_hi = -1e300;
  for (const auto* series : {&curves.train_loss, &curves.validation_loss}) {
    for (const CurvePoint& p : *series) {
      loss_lo = std::min(loss_lo, p.y);
      loss_hi = std::max(loss_hi, p.y);
    }
  }
  if (loss_lo > loss_hi) loss_lo = 0, loss_hi = 1;
  const Axis loss = MakeAxis(std::min(0.0, loss_lo), loss_hi, 5);

  // Accuracy on a range a change can be read against: at least 0.2 wide, within [0, 1], from
  // chance (0.5) for the classifier unless the points go lower.
  double acc_lo = curves.masked_lm ? 0.0 : 0.5, acc_hi = acc_lo + 0.2;
  for (const CurvePoint& p : curves.accuracy) {
    acc_lo = std::min(acc_lo, p.y);
    acc_hi = std::max(acc_hi, p.y);
  }
  const Axis accuracy = MakeAxis(std::max(0.0, acc_lo), std::min(1.0, acc_hi + 0.02), 5);

  const double height = kTitle + 2 * kPanelHeight + kGap + kBottom;
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%.0f\" y=\"22\" font-size=\"16\">murmur training curves</text>\n",
      kWidth, height, kLeft);
  const std::string accuracy_name =
      curves.masked_lm ? "masked-token accuracy (validation)" : "validation accuracy";

  const Panel top(kTitle, x, loss);
  top.Frame(&svg, "loss", curves.epoch_ends);
  top.Series(&svg, curves.train_loss, kTrainColor, false);
  top.Series(&svg, curves.validation_loss, kValidationColor, true);
  Legend(&svg, kWidth - kRight - 300, kTitle - 6, kTrainColor, "training loss");
  Legend(&svg, kWidth - kRight - 160, kTitle - 6, kValidationColor, "validation loss");

  const Panel bottom(kTitle + kPanelHeight + kGap, x, accuracy);
  bottom.Frame(&svg, accuracy_name, curves.epoch_ends);
  bottom.Series(&svg, curves.accuracy, kAccuracyColor, true);
  Legend(&svg, kWidth - kRight - 300, kTitle + kPanelHeight + kGap - 6, kAccuracyColor,
         accuracy_name);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">"
                        "optimizer step</text>\n</svg>\n",
                        kLeft + (kWidth - kLeft - kRight) / 2, height - 12);
  return svg;
}

}  // namespace murmur::client
