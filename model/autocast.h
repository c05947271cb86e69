// Mixed precision: murmur's bf16 autocast, the one switch between fp32 and bf16 compute.
//
// The policy (distilbert.h follows it): weights are fp32 by default. Training runs under
// AutocastBf16 with fp32 master weights: matrix products in bf16; LayerNorm, softmax and the
// residual stream in fp32; fp32 gradients. bf16 inference converts the Linear weights once
// (DistilBertForSequenceClassificationImpl::SetLinearDtype) and runs under AutocastBf16,
// several times faster on AMX CPUs. Logits are fp32 (DistilBertForMaskedLM::ComputeDtypeLogits,
// for its loss only, keeps bf16).
//
// Includes only c10's device and dtype types, not the torch C++ frontend: code that only
// switches precision compiles quickly.
#ifndef MURMUR_MODEL_AUTOCAST_H_
#define MURMUR_MODEL_AUTOCAST_H_

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace murmur::model {

// Whether bf16 autocast is on for CPU ops in this thread (as AutocastBf16(kCPU) turns it on).
bool CpuAutocastsToBf16();

// Turns on bf16 autocast for `device`'s type (CPU or CUDA) for its lifetime (matrix products in
// bf16, fp32 master weights and fp32 gradients), and clears the cast-weight cache on exit as
// torch.autocast does. A scope guard that owns nothing. Thread-safety: autocast state is
// thread-local, like torch's, so a guard affects only the thread that made it and must be
// destroyed there; nestable.
class AutocastBf16 {
 public:
  explicit AutocastBf16(c10::DeviceType device = c10::kCPU);
  ~AutocastBf16();
  AutocastBf16(const AutocastBf16&) = delete;
  AutocastBf16& operator=(const AutocastBf16&) = delete;

 private:
  void Set(bool enabled, c10::ScalarType dtype);  // torch < 2.4 only

  c10::DeviceType device_;
  bool previous_enabled_;
  c10::ScalarType previous_dtype_;
};

}  // namespace murmur::model

#endif  // MURMUR_MODEL_AUTOCAST_H_
