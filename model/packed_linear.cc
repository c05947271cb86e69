#include "model/packed_linear.h"

#include <atomic>

#include "model/few_rows_gemm.h"

namespace murmur::model {
namespace {
std::atomic<int64_t> calls{0};  // PackedLinearCalls()
}  // namespace

int64_t PackedLinearCalls() { return calls.load(); }

}  // namespace murmur::model

#ifdef MURMUR_ONEDNN

#include <ATen/Parallel.h>

#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <utility>
#include <vector>

namespace murmur::model {
namespace {

using Desc = dnnl::memory::desc;
using dnnl::memory;

// Up to this many rows fp32 products run few_rows_gemm's kernel, above it oneDNN's: measured on
// DistilBERT-base's four layer shapes with 2 threads, the kernel took 0.75x oneDNN's time at 24
// rows (one tweet), 0.8x at 64, the same at 96 and 1.05x at 192.
constexpr int64_t kFewRowsMax = 96;

const dnnl::engine& Engine() {
  static const auto* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

class OneDnnLinear final : public PackedLinear {
 public:
  OneDnnLinear(const torch::Tensor& weight, const torch::Tensor& bias, Activation activation)
      : out_(weight.size(0)),
        in_(weight.size(1)),
        activation_(activation),
        dtype_(weight.scalar_type() == torch::kFloat ? torch::kFloat : torch::kBFloat16),
        onednn_dtype_(dtype_ == torch::kFloat ? memory::data_type::f32 : memory::data_type::bf16),
        weight_(weight.detach().to(dtype_).contiguous()),
        bias_(bias.defined() ? bias.detach().to(torch::kFloat).contiguous()
                             : torch::zeros({weight.size(0)}, torch::kFloat)) {
    if (dtype_ == torch::kFloat && few_rows_gemm::Available()) {
      few_rows_weight_ = torch::empty({few_rows_gemm::PackedFloats(out_, in_)}, torch::kFloat);
      few_rows_gemm::PackWeight(weight_.data_ptr<float>(), out_, in_,
                                few_rows_weight_.data_ptr<float>());
    }
  }

  torch::Tensor Forward(const torch::Tensor& x) const override {
    torch::Tensor src = InComputeDtype(x);
    torch::Tensor dst = torch::empty({src.size(0), out_}, src.options());
    Run(src, dst, /*accumulate=*/false);
    return dst;
  }

  torch::Tensor ForwardAdd(const torch::Tensor& x, torch::Tensor residual) const override {
    TORCH_CHECK(activation_ == Activation::kNone, "ForwardAdd needs a layer without activation");
    TORCH_CHECK(residual.scalar_type() == torch::kFloat && residual.is_contiguous() &&
                    residual.size(0) == x.size(0) && residual.size(1) == out_,
                "ForwardAdd: residual must be contiguous fp32 [rows, ", out_, "]");
    Run(InComputeDtype(x), residual, /*accumulate=*/true);
    return residual;
  }

 private:
  // One primitive per (rows, output kind): oneDNN specialises its kernels on the shape. Batch
  // rows come rounded (Batch::RoundRows), so a server sees few distinct row counts.
  struct Primitive {
    dnnl::matmul matmul;
    Desc weights;
    Desc scratchpad;
  };

  torch::Tensor InComputeDtype(const torch::Tensor& x) const { return x.to(dtype_).contiguous(); }

  const Primitive& Get(int64_t rows, bool accumulate) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_pair(rows, accumulate);
    auto it = primitives_.find(key);
    if (it != primitives_.end()) return it->second;
    const Desc src({rows, in_}, onednn_dtype_, memory::format_tag::ab);
    const Desc weights({in_, out_}, onednn_dtype_, memory::format_tag::any);
    const Desc bias({1, out_}, memory::data_type::f32, memory::format_tag::ab);
    const Desc dst({rows, out_}, accumulate ? memory::data_type::f32 : onednn_dtype_,
                   memory::format_tag::ab);
    dnnl::post_ops ops;
    if (accumulate) ops.append_sum(1.0f);
    if (activation_ == Activation::kGelu) {
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
    } else if (activation_ == Activation::kRelu) {
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    }
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // per call: concurrent callers
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights, bias, dst), attr, Engine());
    Pack(pd.weights_desc());
    return primitives_
        .emplace(key, Primitive{dnnl::matmul(pd), pd.weights_desc(), pd.scratchpad_desc()})
        .first->second;
  }

  // Reorders the weight into `layout` once (the first time a primitive asks for it). torch's
  // [out, in] row-major weight is oneDNN's [in, out] in layout "ba".
  void Pack(const Desc& layout) const {
    for (const auto& [packed_layout, data] : packed_) {
      if (packed_layout == layout) return;
    }
    torch::Tensor data = torch::empty({static_cast<int64_t>(layout.get_size())}, torch::kByte);
    memory plain(Desc({in_, out_}, onednn_dtype_, memory::format_tag::ba), Engine(),
                 weight_.data_ptr());
    memory packed(layout, Engine(), data.data_ptr());
    dnnl::stream stream(Engine());
    dnnl::reorder(plain, packed).execute(stream, plain, packed);
    stream.wait();
    packed_.emplace_back(layout, data);
  }

  void* PackedData(const Desc& layout) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [packed_layout, data] : packed_) {
      if (packed_layout == layout) return data.data_ptr();
    }
    return nullptr;  // unreachable: Get packed it
  }

  void Run(const torch::Tensor& src, const torch::Tensor& dst, bool accumulate) const {
    calls.fetch_add(1, std::memory_order_relaxed);
    const int64_t rows = src.size(0);
    TORCH_CHECK(src.dim() == 2 && src.size(1) == in_, "PackedLinear: input must be [rows, ", in_,
                "]");
    if (rows == 0) return;
    if (few_rows_weight_.defined() && rows <= kFewRowsMax) {
      RunFewRows(src, dst, accumulate);
      return;
    }
    const Primitive& primitive = Get(rows, accumulate);
    torch::Tensor scratch =
        torch::empty({static_cast<int64_t>(primitive.scratchpad.get_size())}, torch::kByte);
    const Desc src_desc({rows, in_}, onednn_dtype_, memory::format_tag::ab);
    const Desc dst_desc({rows, out_}, accumulate ? memory::data_type::f32 : onednn_dtype_,
                        memory::format_tag::ab);
    const Desc bias_desc({1, out_}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::stream stream(Engine());
    primitive.matmul.execute(
        stream,
        {{DNNL_ARG_SRC, memory(src_desc, Engine(), src.data_ptr())},
         {DNNL_ARG_WEIGHTS, memory(primitive.weights, Engine(), PackedData(primitive.weights))},
         {DNNL_ARG_BIAS, memory(bias_desc, Engine(), bias_.data_ptr())},
         {DNNL_ARG_DST, memory(dst_desc, Engine(), dst.data_ptr())},
         {DNNL_ARG_SCRATCHPAD, memory(primitive.scratchpad, Engine(), scratch.data_ptr())}});
    stream.wait();
  }

  void RunFewRows(const torch::Tensor& src, const torch::Tensor& dst, bool accumulate) const {
    using few_rows_gemm::Epilogue;
    const Epilogue epilogue = accumulate                         ? Epilogue::kAccumulate
                              : activation_ == Activation::kGelu ? Epilogue::kGelu
                              : activation_ == Activation::kRelu ? Epilogue::kRelu
                                                                 : Epilogue::kStore;
    const float* x = src.data_ptr<float>();
    float* y = dst.data_ptr<float>();
    at::parallel_for(0, few_rows_gemm::Panels(out_), 1, [&](int64_t begin, int64_t end) {
      few_rows_gemm::Multiply(x, src.size(0), in_, few_rows_weight_.data_ptr<float>(),
                              bias_.data_ptr<float>(), out_, epilogue, y, begin, end);
    });
  }

  const int64_t out_, in_;
  const Activation activation_;
  const torch::ScalarType dtype_;  // what the product computes in: bf16 or fp32
  const memory::data_type onednn_dtype_;
  const torch::Tensor weight_, bias_;
  torch::Tensor few_rows_weight_;  // fp32 on AVX-512: the weight in few_rows_gemm's panels
  mutable std::mutex mutex_;
  // Guarded by mutex_. std::map: references to entries stay valid as it grows.
  mutable std::map<std::pair<int64_t, bool>, Primitive> primitives_;
  mutable std::vector<std::pair<Desc, torch::Tensor>> packed_;
};

}  // namespace

std::unique_ptr<PackedLinear> PackedLinear::Create(const torch::Tensor& weight,
                                                   const torch::Tensor& bias,
                                                   Activation activation) {
  return std::make_unique<OneDnnLinear>(weight, bias, activation);
}

bool PackedLinearAvailable() { return true; }

}  // namespace murmur::model

#else  // !MURMUR_ONEDNN

namespace murmur::model {

std::unique_ptr<PackedLinear> PackedLinear::Create(const torch::Tensor&, const torch::Tensor&,
                                                   Activation) {
  return nullptr;
}

bool PackedLinearAvailable() { return false; }

}  // namespace murmur::model

#endif  // MURMUR_ONEDNN
