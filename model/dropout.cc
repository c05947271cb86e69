#include "model/dropout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdint>
#include <mutex>

#include "base/random.h"

namespace murmur::model {
namespace {

// Mask of x's dtype holding 0 or 1 / (1 - p).
template <typename T>
void FillMask(T* mask, int64_t n, double p, uint64_t seed) {
  // Keep when the 16-bit uniform is >= threshold: P(keep) = 1 - threshold / 65536.
  const uint32_t threshold = static_cast<uint32_t>(p * 65536.0 + 0.5);
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  const T zero = static_cast<T>(0.0f);
  const int64_t words = (n + 3) / 4;
  at::parallel_for(0, words, 1 << 12, [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w) {
      uint64_t bits = CounterHash(seed ^ (static_cast<uint64_t>(w) * 0xd1b54a32d192ed03ULL));
      for (int k = 0; k < 4; ++k) {
        int64_t j = 4 * w + k;
        if (j < n) mask[j] = ((bits >> (16 * k)) & 0xffff) >= threshold ? scale : zero;
      }
    }
  });
}

class FastDropoutFunction : public torch::autograd::Function<FastDropoutFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            double p) {
    at::Tensor mask = DropoutMask(x, p, DrawDropoutSeed());
    ctx->save_for_backward({mask});
    return x * mask;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    at::Tensor mask = ctx->get_saved_variables()[0];
    return {grads[0] * mask, at::Tensor()};
  }
};

}  // namespace

uint64_t DrawDropoutSeed() {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get<at::CPUGeneratorImpl>()->random64();
}

at::Tensor DropoutMask(const at::Tensor& like, double p, uint64_t seed) {
  at::Tensor mask =
      at::empty(like.sizes(), like.options().memory_format(at::MemoryFormat::Contiguous));
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, like.scalar_type(), "DropoutMask", [&] {
    FillMask<scalar_t>(mask.data_ptr<scalar_t>(), mask.numel(), p, seed);
  });
  return mask;
}

at::Tensor FastDropout(const at::Tensor& x, double p, bool training) {
  if (!training || p <= 0.0) return x;
  if (p >= 1.0) return x * 0;
  // The cheap mask is a CPU loop; on a GPU libtorch's fused dropout kernel is already fast (it
  // draws from the device's generator, which torch::manual_seed seeds too).
  if (!x.is_cpu()) return at::dropout(x, p, /*train=*/true);
  return FastDropoutFunction::apply(x, p);
}

}  // namespace murmur::model
