#include "model/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace murmur::model {

// torch 2.4 replaced the per-device autocast functions by ones taking the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool CpuAutocastsToBf16() {
  return at::autocast::is_autocast_enabled(c10::kCPU) &&
         at::autocast::get_autocast_dtype(c10::kCPU) == at::kBFloat16;
}

AutocastBf16::AutocastBf16(c10::DeviceType device)
    : device_(device),
      previous_enabled_(at::autocast::is_autocast_enabled(device)),
      previous_dtype_(at::autocast::get_autocast_dtype(device)) {
  at::autocast::set_autocast_enabled(device, true);
  at::autocast::set_autocast_dtype(device, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastBf16::~AutocastBf16() {
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_, previous_enabled_);
  at::autocast::set_autocast_dtype(device_, previous_dtype_);
}
#else
bool CpuAutocastsToBf16() {
  return at::autocast::is_cpu_enabled() &&
         at::autocast::get_autocast_cpu_dtype() == at::kBFloat16;
}

AutocastBf16::AutocastBf16(c10::DeviceType device)
    : device_(device),
      previous_enabled_(device == c10::kCPU ? at::autocast::is_cpu_enabled()
                                            : at::autocast::is_enabled()),
      previous_dtype_(device == c10::kCPU ? at::autocast::get_autocast_cpu_dtype()
                                          : at::autocast::get_autocast_gpu_dtype()) {
  Set(true, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastBf16::~AutocastBf16() {
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  Set(previous_enabled_, previous_dtype_);
}

void AutocastBf16::Set(bool enabled, c10::ScalarType dtype) {
  if (device_ == c10::kCPU) {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  }
}
#endif

}  // namespace murmur::model
