// An fp32 matrix product for few rows (one to a few dozen tweets' tokens) against a weight packed
// once into column panels: y = activation(x W^T + b), or residual += x W^T + b. AVX-512 only;
// PackedLinear's fp32 layers use it for few rows and keep oneDNN for the rest and elsewhere.
//
// Why: at a few dozen rows each weight element is used only that many times, so a forward pass
// is a stream of the weights (DistilBERT-base: 170 MB in fp32) through the cores. oneDNN's
// kernel overlaps that stream badly with its arithmetic: at 24 rows it streamed the weight at
// about half the rate one core can, and computed at about half its fp32 multiply-add rate. Here
// each panel (48 columns) is one contiguous stream, read once for all rows, with 24 accumulators
// in registers per 8-row tile, and the next panel is prefetched while this one is computed.
// model/bench/inference_bench.sh measures the whole model against ONNX Runtime.
//
// The kernels are compiled for AVX-512 by a `#pragma GCC target` placed after every #include of
// their file, and use only intrinsics and compile-time tables there: no inline library function
// is compiled for AVX-512 (the linker could keep that copy for the whole program). This interface
// is plain pointers so that callers need not include anything the kernels' file would.
//
// Thread-safety: stateless; calls on disjoint outputs may run at once.
#ifndef MURMUR_MODEL_FEW_ROWS_GEMM_H_
#define MURMUR_MODEL_FEW_ROWS_GEMM_H_

#include <cstdint>

namespace murmur::model::few_rows_gemm {

// Columns per panel.
constexpr int64_t kPanelColumns = 48;

enum class Epilogue { kStore, kGelu, kRelu, kAccumulate };

// Whether this CPU runs the kernels (AVX-512F).
bool Available();

// Floats the packed copy of an [out, in] weight takes.
int64_t PackedFloats(int64_t out, int64_t in);
int64_t Panels(int64_t out);

// Packs torch's row-major weight [out, in] into panels: panel p holds columns
// [48 p, 48 p + 48) as [in][48] (the last one zero-padded to a multiple of 16 columns).
void PackWeight(const float* weight, int64_t out, int64_t in, float* packed);

// Panels [panel_begin, panel_end) of y [rows, out] (row stride out) from x [rows, in] (row
// stride in) and bias [out]: kStore/kGelu/kRelu write y, kAccumulate adds into it.
void Multiply(const float* x, int64_t rows, int64_t in, const float* packed, const float* bias,
              int64_t out, Epilogue epilogue, float* y, int64_t panel_begin, int64_t panel_end);

}  // namespace murmur::model::few_rows_gemm

#endif  // MURMUR_MODEL_FEW_ROWS_GEMM_H_
