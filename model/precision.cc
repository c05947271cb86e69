#include "model/precision.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file.h"

namespace murmur::model {

std::string PrecisionName(Precision precision) {
  return precision == Precision::kBf16 ? "bf16" : "fp32";
}

CpuFeatures CpuFeatures::FromCpuinfo(absl::string_view cpuinfo) {
  CpuFeatures features;
  for (absl::string_view line : absl::StrSplit(cpuinfo, '\n')) {
    if (!absl::ConsumePrefix(&line, "flags")) continue;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    for (absl::string_view flag : absl::StrSplit(line.substr(colon + 1), ' ', absl::SkipEmpty())) {
      if (flag == "amx_bf16") features.amx_bf16 = true;
      if (flag == "avx512_bf16") features.avx512_bf16 = true;
    }
    break;  // every core lists the same flags
  }
  return features;
}

CpuFeatures CpuFeatures::Detect() {
  auto cpuinfo = ReadFile("/proc/cpuinfo");
  return cpuinfo.ok() ? FromCpuinfo(*cpuinfo) : CpuFeatures();
}

absl::StatusOr<PrecisionChoice> ChoosePrecision(absl::string_view flag, const CpuFeatures& cpu) {
  if (flag == "fp32") return PrecisionChoice{Precision::kFp32, "requested"};
  if (flag == "bf16") {
    return PrecisionChoice{Precision::kBf16,
                           cpu.native_bf16() ? "requested"
                                             : "requested (this CPU has no native bf16: "
                                               "expect it slower than fp32)"};
  }
  if (flag == "auto") {
    if (cpu.amx_bf16) return PrecisionChoice{Precision::kBf16, "auto: this CPU has amx_bf16"};
    if (cpu.avx512_bf16) {
      return PrecisionChoice{Precision::kBf16, "auto: this CPU has avx512_bf16"};
    }
    return PrecisionChoice{Precision::kFp32, "auto: this CPU has no native bf16"};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("precision must be auto, fp32 or bf16, got '", flag, "'"));
}

}  // namespace murmur::model
