// The training curves of a job as an SVG a person can open in any browser, written by `murmur
// train` into its run directory while the job runs and at its end: two panels over the same
// step axis, loss (training loss per step, validation loss per evaluation) above and validation
// accuracy per evaluation below (masked-token accuracy for masked-LM pretraining, named as
// such), with ticks, a grid, and the epochs marked.
//
// Pure functions; thread-safe.
#ifndef MURMUR_CLIENT_TRAINING_CURVE_H_
#define MURMUR_CLIENT_TRAINING_CURVE_H_

#include <string>
#include <vector>

namespace murmur::client {

struct CurvePoint {
  double x = 0;
  double y = 0;
};

struct TrainingCurves {
  std::vector<CurvePoint> train_loss;       // (step, training loss)
  std::vector<CurvePoint> validation_loss;  // (step, validation loss) per evaluation
  std::vector<CurvePoint> accuracy;         // (step, validation accuracy) per evaluation
  std::vector<double> epoch_ends;           // steps at which an epoch ended
  bool masked_lm = false;                   // `accuracy` is masked-token accuracy
};

std::string TrainingCurveSvg(const TrainingCurves& curves);

// Round tick values (1, 2 or 5 times a power of ten apart, the spacing nearest to
// (hi - lo) / target) covering [lo, hi]; the first is <= lo, the last >= hi.
std::vector<double> NiceTicks(double lo, double hi, int target);

}  // namespace murmur::client

#endif  // MURMUR_CLIENT_TRAINING_CURVE_H_
