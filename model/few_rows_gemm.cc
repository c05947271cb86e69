#include "model/few_rows_gemm.h"

#include <immintrin.h>

#include <array>
#include <cstring>
#include <utility>

namespace murmur::model::few_rows_gemm {

constexpr int64_t kLanes = 16;
constexpr int64_t kPanelVectors = kPanelColumns / kLanes;

bool Available() { return __builtin_cpu_supports("avx512f"); }

int64_t Panels(int64_t out) { return (out + kPanelColumns - 1) / kPanelColumns; }

namespace {
// Columns the panel starting at `column` stores: 48, or the rest rounded up to whole vectors.
int64_t PanelWidth(int64_t column, int64_t out) {
  const int64_t rest = out - column;
  return rest >= kPanelColumns ? kPanelColumns : (rest + kLanes - 1) / kLanes * kLanes;
}
}  // namespace

int64_t PackedFloats(int64_t out, int64_t in) {
  int64_t floats = 0;
  for (int64_t column = 0; column < out; column += kPanelColumns) {
    floats += PanelWidth(column, out) * in;
  }
  return floats;
}

void PackWeight(const float* weight, int64_t out, int64_t in, float* packed) {
  for (int64_t column = 0; column < out; column += kPanelColumns) {
    const int64_t width = PanelWidth(column, out);
    std::memset(packed, 0, sizeof(float) * width * in);
    for (int64_t c = column; c < column + width && c < out; ++c) {
      for (int64_t k = 0; k < in; ++k) packed[k * width + (c - column)] = weight[c * in + k];
    }
    packed += width * in;
  }
}

// Everything below is compiled for AVX-512F and runs only where Available().
#pragma GCC push_options
#pragma GCC target("avx512f")

namespace {

// How far ahead in the panel the loop over k asks for its weights in L1.
constexpr int64_t kPrefetchBytes = 1024;

// Integer lanes through GCC's vector extensions: the intrinsics for max, abs and shifts start from
// _mm512_undefined_*, which GCC 12 reports as maybe-uninitialized.
typedef int32_t Ints16 __attribute__((vector_size(64)));
inline Ints16 Bits(__m512 v) { return reinterpret_cast<Ints16>(v); }
inline __m512 Floats(Ints16 v) { return reinterpret_cast<__m512>(v); }

// exp(x) for x <= 0, as cpu_vector.h's ExpNonPositive (Cody-Waite, degree-7 polynomial).
inline __m512 ExpNonPositive(__m512 x) {
  const __m512 lowest = _mm512_set1_ps(-87.0f);  // exp(-87) ~ 1.6e-38: 2^n stays normal
  x = x < lowest ? lowest : x;
  const __m512 shift = _mm512_set1_ps(12582912.0f);  // 1.5 * 2^23: rounds to an integer
  const __m512 shifted = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504f), shift);
  const __m512 n = _mm512_sub_ps(shifted, shift);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_fmadd_ps(r, _mm512_set1_ps(1.0f / 5040), _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  const Ints16 exponent = ((Bits(shifted) - 0x4b400000) + 127) << 23;
  return _mm512_mul_ps(p, Floats(exponent));
}

// GELU with the exact erf form, 0.5 x (1 + erf(x / sqrt 2)); erf by Abramowitz and Stegun
// 7.1.26 (absolute error < 1.5e-7), as libtorch's vectorised erf.
inline __m512 Gelu(__m512 x) {
  const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678f));
  const Ints16 sign = Bits(z) & static_cast<int32_t>(0x80000000);
  const __m512 abs_z = Floats(Bits(z) ^ sign);
  const __m512 t =
      _mm512_div_ps(_mm512_set1_ps(1.0f),
                    _mm512_fmadd_ps(abs_z, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
  __m512 poly = _mm512_fmadd_ps(t, _mm512_set1_ps(1.061405429f), _mm512_set1_ps(-1.453152027f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(1.421413741f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(-0.284496736f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(0.254829592f));
  poly = _mm512_mul_ps(poly, t);
  const __m512 e = ExpNonPositive(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), abs_z), abs_z));
  const __m512 erf_abs = _mm512_fnmadd_ps(poly, e, _mm512_set1_ps(1.0f));
  // erf is odd: give erf(|z|) the sign of z.
  const __m512 erf = Floats(Bits(erf_abs) | sign);
  return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)),
                       _mm512_add_ps(erf, _mm512_set1_ps(1.0f)));
}

// kRows rows of y against kVectors vectors (16 columns each) of one panel, `columns` of them
// real; the panel holds `stride` floats per k. The accumulators (at most 24) stay in registers
// through the loop over k. Meanwhile `prefetch_lines` lines from `prefetch` on, advancing
// `prefetch_step` bytes per k, are brought into the core's cache for the next panel.
template <int kRows, int kVectors>
void Tile(const float* x, int64_t in, const float* w, int64_t stride, const float* bias,
          int64_t columns, Epilogue epilogue, float* y, int64_t out, const char* prefetch,
          int64_t prefetch_step, int64_t prefetch_lines) {
  __m512 sum[kRows][kVectors];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 3
    for (int v = 0; v < kVectors; ++v) sum[r][v] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < in; ++k, w += stride, prefetch += prefetch_step) {
    for (int64_t line = 0; line < prefetch_lines; ++line) {
      _mm_prefetch(prefetch + line * 64, _MM_HINT_T1);
    }
    __m512 weights[kVectors];
#pragma GCC unroll 3
    for (int v = 0; v < kVectors; ++v) {
      _mm_prefetch(reinterpret_cast<const char*>(w + v * kLanes) + kPrefetchBytes, _MM_HINT_T0);
      weights[v] = _mm512_loadu_ps(w + v * kLanes);
    }
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512 a = _mm512_set1_ps(x[r * in + k]);
#pragma GCC unroll 3
      for (int v = 0; v < kVectors; ++v) sum[r][v] = _mm512_fmadd_ps(a, weights[v], sum[r][v]);
    }
  }
#pragma GCC unroll 3
  for (int v = 0; v < kVectors; ++v) {
    const int64_t left = columns - v * kLanes;
    if (left <= 0) break;
    const __mmask16 mask = left >= kLanes ? 0xffff : static_cast<__mmask16>((1u << left) - 1);
    const __m512 b = _mm512_maskz_loadu_ps(mask, bias + v * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      float* target = y + r * out + v * kLanes;
      __m512 value = _mm512_add_ps(sum[r][v], b);
      switch (epilogue) {
        case Epilogue::kStore:
          break;
        case Epilogue::kGelu:
          value = Gelu(value);
          break;
        case Epilogue::kRelu:
          value = value > 0.0f ? value : _mm512_setzero_ps();
          break;
        case Epilogue::kAccumulate:
          value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, target));
          break;
      }
      _mm512_mask_storeu_ps(target, mask, value);
    }
  }
}

using TileFunction = void (*)(const float*, int64_t, const float*, int64_t, const float*, int64_t,
                              Epilogue, float*, int64_t, const char*, int64_t, int64_t);

// A tile is up to 8 rows against a whole panel: 24 accumulators for the full panels.
constexpr int64_t kTileRows = 8;

template <int kVectors, int... kRows>
constexpr std::array<TileFunction, sizeof...(kRows)> Tiles(std::integer_sequence<int, kRows...>) {
  return {Tile<kRows + 1, kVectors>...};
}
// [vectors - 1][rows - 1]
constexpr std::array<std::array<TileFunction, kTileRows>, kPanelVectors> kTiles = {
    Tiles<1>(std::make_integer_sequence<int, kTileRows>()),
    Tiles<2>(std::make_integer_sequence<int, kTileRows>()),
    Tiles<3>(std::make_integer_sequence<int, kTileRows>())};

}  // namespace

void Multiply(const float* x, int64_t rows, int64_t in, const float* packed, const float* bias,
              int64_t out, Epilogue epilogue, float* y, int64_t panel_begin, int64_t panel_end) {
  const int64_t tiles = (rows + kTileRows - 1) / kTileRows;
  // Panels before panel_begin are all full (only the last can be narrower).
  const float* panel = packed + panel_begin * kPanelColumns * in;
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    const int64_t column = p * kPanelColumns;
    const int64_t width = PanelWidth(column, out);
    const int64_t columns = out - column < width ? out - column : width;
    const float* next_panel = panel + width * in;
    // The panel comes from memory for the first tile and from the core's cache for the others;
    // meanwhile the next panel is prefetched, spread evenly over this panel's tiles, so that the
    // stream from memory never stops while the core computes.
    const int64_t next_bytes =
        p + 1 < panel_end ? PanelWidth(column + kPanelColumns, out) * in * 4 : 0;
    const int64_t step = (next_bytes / tiles + in - 1) / in;  // bytes per k of each tile
    const int64_t lines = next_bytes == 0 ? 0 : (step + 63) / 64;
    const TileFunction* tile = kTiles[width / kLanes - 1].data();
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t row = t * kTileRows;
      const int64_t height = rows - row < kTileRows ? rows - row : kTileRows;
      tile[height - 1](x + row * in, in, panel, width, bias + column, columns, epilogue,
                       y + row * out + column, out,
                       reinterpret_cast<const char*>(next_panel) + t * step * in, step, lines);
    }
    panel = next_panel;
  }
}

#pragma GCC pop_options

}  // namespace murmur::model::few_rows_gemm
