// The names of the job spec's `objective` (JobSpec.objective in coordinator.proto), one list for
// the coordinator's validation, the command line and the workers.
#ifndef MURMUR_PROTO_OBJECTIVES_H_
#define MURMUR_PROTO_OBJECTIVES_H_

#include <string_view>

namespace murmur {

inline constexpr char kClassificationObjective[] = "classification";
inline constexpr char kMaskedLmObjective[] = "masked_lm";
inline constexpr char kReplacedTokenDetectionObjective[] = "replaced_token_detection";
// For messages: the names above, as a user types them.
inline constexpr char kObjectiveNames[] = "classification, masked_lm or replaced_token_detection";

// Pretraining objectives train an encoder for a classifier to start from (job spec init_dir):
// their checkpoints have no classification head, and their evaluations' accuracy is of masked
// tokens, without classes.
inline bool IsPretrainingObjective(std::string_view objective) {
  return objective == kMaskedLmObjective || objective == kReplacedTokenDetectionObjective;
}

inline bool IsKnownObjective(std::string_view objective) {
  return objective == kClassificationObjective || IsPretrainingObjective(objective);
}

}  // namespace murmur

#endif  // MURMUR_PROTO_OBJECTIVES_H_
