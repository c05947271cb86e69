// The training curve of a job as an SVG a person can open in any browser: training loss by
// optimizer step and validation accuracy by epoch, from what `murmur train` recorded.
#ifndef MURMUR_CLIENT_TRAINING_CURVE_H_
#define MURMUR_CLIENT_TRAINING_CURVE_H_

#include <string>
#include <utility>
#include <vector>

namespace murmur::client {

struct CurvePoint {
  double x = 0;
  double y = 0;
};

// loss: (step, training loss); accuracy: (step at the end of each epoch, validation accuracy).
std::string TrainingCurveSvg(const std::vector<CurvePoint>& loss,
                             const std::vector<CurvePoint>& accuracy);

}  // namespace murmur::client

#endif  // MURMUR_CLIENT_TRAINING_CURVE_H_
