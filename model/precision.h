// The numeric precision a model runs inference in, chosen for the CPU at hand: bf16 where the
// CPU does bf16 matrix work natively (AMX or AVX512-BF16: several times the fp32 rate there),
// fp32 elsewhere (on CPUs without it bf16 is emulated and slower than fp32). `--precision auto`
// of murmur-serve and `murmur predict` resolves through here.
//
// Pure functions, except CpuFeatures::Detect (reads /proc/cpuinfo); thread-safe.
#ifndef MURMUR_MODEL_PRECISION_H_
#define MURMUR_MODEL_PRECISION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace murmur::model {

enum class Precision { kFp32, kBf16 };

// "fp32" or "bf16".
std::string PrecisionName(Precision precision);

// The CPU's native bf16 matrix instructions, as the kernel reports them (so also what the OS
// enables).
struct CpuFeatures {
  bool amx_bf16 = false;
  bool avx512_bf16 = false;
  bool native_bf16() const { return amx_bf16 || avx512_bf16; }

  // From the "flags" line of /proc/cpuinfo's text.
  static CpuFeatures FromCpuinfo(absl::string_view cpuinfo);
  // This machine's (none where /proc/cpuinfo cannot be read).
  static CpuFeatures Detect();
};

struct PrecisionChoice {
  Precision precision = Precision::kFp32;
  // Why, for the log: "auto: this CPU has amx_bf16", "requested", ...
  std::string reason;
};

// `flag` is "auto", "fp32" or "bf16"; INVALID_ARGUMENT otherwise.
absl::StatusOr<PrecisionChoice> ChoosePrecision(absl::string_view flag, const CpuFeatures& cpu);

}  // namespace murmur::model

#endif  // MURMUR_MODEL_PRECISION_H_
