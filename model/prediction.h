// One text's classification, the one result type of the classify path: model::Classifier
// returns it, serving's batcher hands it back to requests, `murmur predict` prints it.
//
// Torch-free (and in a target of its own) on purpose: serving's torch-free code — the dynamic
// batcher, the fake servable its tests run on — passes predictions around without linking
// libtorch. A plain value type.
#ifndef MURMUR_MODEL_PREDICTION_H_
#define MURMUR_MODEL_PREDICTION_H_

#include <string>
#include <vector>

namespace murmur::model {

struct Prediction {
  int label_id = 0;                  // the most probable label
  std::string label;                 // its name (config.json's id2label[label_id])
  float score = 0.0f;                // probabilities[label_id], the largest
  std::vector<float> probabilities;  // softmax over the labels, in label-id order
};

}  // namespace murmur::model

#endif  // MURMUR_MODEL_PREDICTION_H_
