#include "worker/grad_sync.h"

#include <ATen/core/grad_mode.h>

#include <chrono>

namespace murmur::worker {

struct GradientSynchronizer::Bucket {
  std::vector<int> members;      // indices into State::parameters
  std::vector<int64_t> offsets;  // element offset of each member in `buffer`
  at::Tensor buffer;             // flat, the parameters' dtype
  std::vector<bool> ready;
  int pending = 0;
  bool launched = false;
  std::unique_ptr<CollectiveWork> work;
};

struct GradientSynchronizer::State {
  NamedTensors parameters;
  std::vector<int> bucket_of;  // per parameter; -1 for the sparse one
  std::vector<int> slot_of;    // position within its bucket
  std::vector<Bucket> buckets;
  int sparse_index = -1;
  at::Tensor synchronized_rows;  // of the sparse parameter, by the last Finish
  Communicator* communicator = nullptr;
  bool armed = false;
  int next_to_launch = 0;

  // The gradient the parameter will hold after this backward: what was accumulated from earlier
  // micro-batches plus this one.
  void Stage(int index, const at::Tensor& incoming) {
    Bucket& bucket = buckets[bucket_of[index]];
    int slot = slot_of[index];
    if (bucket.ready[slot]) return;  // a parameter used twice: hooks fire per use; take the first
    const at::Tensor& parameter = parameters[index].second;
    at::Tensor target = bucket.buffer.narrow(0, bucket.offsets[slot], parameter.numel());
    const at::Tensor& accumulated = parameter.grad();
    if (incoming.defined() && accumulated.defined()) {
      at::add_out(target, accumulated.reshape(-1), incoming.reshape(-1));
    } else if (incoming.defined()) {
      target.copy_(incoming.reshape(-1));
    } else if (accumulated.defined()) {
      target.copy_(accumulated.reshape(-1));
    } else {
      target.zero_();
    }
    bucket.ready[slot] = true;
    --bucket.pending;
    LaunchReady();
  }

  // Starts complete buckets strictly in index order, so every rank issues the same sequence.
  void LaunchReady() {
    while (next_to_launch < static_cast<int>(buckets.size()) &&
           buckets[next_to_launch].pending == 0) {
      Bucket& bucket = buckets[next_to_launch];
      bucket.work = communicator->AllReduce(bucket.buffer, ReduceOp::kSum);
      bucket.launched = true;
      ++next_to_launch;
    }
  }
};

GradientSynchronizer::GradientSynchronizer(const NamedTensors& parameters,
                                           GradSyncOptions options)
    : state_(std::make_shared<State>()) {
  State& state = *state_;
  state.parameters = parameters;
  const int n = static_cast<int>(parameters.size());
  state.bucket_of.assign(n, -1);
  state.slot_of.assign(n, -1);
  // Reverse registration order approximates the order backward produces gradients.
  Bucket current;
  size_t current_bytes = 0;
  auto close_bucket = [&] {
    if (current.members.empty()) return;
    int64_t total = 0;
    for (int index : current.members) {
      current.offsets.push_back(total);
      total += parameters[index].second.numel();
    }
    current.buffer = at::empty({total}, parameters[current.members[0]].second.options());
    current.ready.assign(current.members.size(), false);
    for (size_t slot = 0; slot < current.members.size(); ++slot) {
      state.bucket_of[current.members[slot]] = static_cast<int>(state.buckets.size());
      state.slot_of[current.members[slot]] = static_cast<int>(slot);
    }
    state.buckets.push_back(std::move(current));
    current = Bucket();
    current_bytes = 0;
  };
  for (int index = n - 1; index >= 0; --index) {
    const auto& [name, parameter] = parameters[index];
    if (name == options.sparse_parameter) {
      state.sparse_index = index;
      continue;
    }
    // One dtype per bucket (a flat buffer has one).
    if (!current.members.empty() &&
        parameters[current.members[0]].second.scalar_type() != parameter.scalar_type()) {
      close_bucket();
    }
    current.members.push_back(index);
    current_bytes += parameter.numel() * parameter.element_size();
    if (current_bytes >= options.bucket_bytes) close_bucket();
  }
  close_bucket();

  std::weak_ptr<State> weak = state_;
  for (int index = 0; index < n; ++index) {
    if (index == state.sparse_index) continue;
    at::Tensor parameter = parameters[index].second;
    parameter.register_hook([weak, index](const at::Tensor& grad) {
      if (auto locked = weak.lock(); locked && locked->armed) locked->Stage(index, grad);
    });
  }
}

GradientSynchronizer::~GradientSynchronizer() = default;

size_t GradientSynchronizer::num_buckets() const { return state_->buckets.size(); }

const at::Tensor& GradientSynchronizer::synchronized_rows() const {
  return state_->synchronized_rows;
}

void GradientSynchronizer::Arm(Communicator* communicator) {
  State& state = *state_;
  state.communicator = communicator;
  state.armed = true;
  state.next_to_launch = 0;
  for (Bucket& bucket : state.buckets) {
    // A gradient still viewing this bucket (the caller kept last step's instead of dropping
    // it, as the trainer does) gets storage of its own: backward accumulates into it while the
    // bucket is being all-reduced.
    for (int member : bucket.members) {
      at::Tensor& grad = state.parameters[member].second.mutable_grad();
      if (grad.defined() && grad.storage().is_alias_of(bucket.buffer.storage())) {
        grad = grad.clone();
      }
    }
    std::fill(bucket.ready.begin(), bucket.ready.end(), false);
    bucket.pending = static_cast<int>(bucket.members.size());
    bucket.launched = false;
    bucket.work.reset();
  }
}

absl::Status GradientSynchronizer::Finish(const at::Tensor& token_ids, GradSyncStats* stats) {
  State& state = *state_;
  at::NoGradGuard no_grad;
  auto start = std::chrono::steady_clock::now();
  // Parameters that got no gradient in this backward (unused) still take part, with their
  // accumulated gradient or zeros, so every rank all-reduces the same buckets.
  for (size_t b = 0; b < state.buckets.size(); ++b) {
    Bucket& bucket = state.buckets[b];
    for (size_t slot = 0; slot < bucket.members.size(); ++slot) {
      if (!bucket.ready[slot]) state.Stage(bucket.members[slot], at::Tensor());
    }
  }
  state.armed = false;
  absl::Status status = absl::OkStatus();
  int64_t dense = 0;
  for (Bucket& bucket : state.buckets) {
    absl::Status waited = bucket.work ? bucket.work->Wait() : absl::InternalError("not launched");
    if (!waited.ok() && status.ok()) status = waited;
    dense += bucket.buffer.numel();
  }
  if (!status.ok()) return status;
  // The gradients become views of the buckets (DDP's gradient_as_bucket_view): no pass copying
  // ~170 MB back for DistilBERT-base. Arm() takes them out of the buckets again before the
  // next all-reduce can write there.
  for (Bucket& bucket : state.buckets) {
    for (size_t slot = 0; slot < bucket.members.size(); ++slot) {
      at::Tensor parameter = state.parameters[bucket.members[slot]].second;
      parameter.mutable_grad() =
          bucket.buffer.narrow(0, bucket.offsets[slot], parameter.numel()).view_as(parameter);
    }
  }

  int64_t sparse_rows = 0;
  if (state.sparse_index >= 0) {
    at::Tensor parameter = state.parameters[state.sparse_index].second;
    if (!parameter.grad().defined()) parameter.mutable_grad() = at::zeros_like(parameter);
    Communicator& comm = *state.communicator;
    // Union of the rows every rank touched: all-gather the counts, then the padded id lists.
    at::Tensor mine = std::get<0>(at::_unique(token_ids.reshape(-1).to(at::kLong), /*sorted=*/true));
    at::Tensor count = at::full({1}, mine.numel(), at::kLong);
    std::vector<at::Tensor> counts;
    for (int r = 0; r < comm.world_size(); ++r) counts.push_back(at::empty({1}, at::kLong));
    if (auto s = comm.AllGatherSync(count, counts); !s.ok()) return s;
    int64_t longest = 0;
    for (const at::Tensor& c : counts) longest = std::max(longest, c.item<int64_t>());
    at::Tensor padded = at::full({longest}, -1, at::kLong);
    padded.narrow(0, 0, mine.numel()).copy_(mine);
    std::vector<at::Tensor> all_ids;
    for (int r = 0; r < comm.world_size(); ++r) all_ids.push_back(at::empty({longest}, at::kLong));
    if (auto s = comm.AllGatherSync(padded, all_ids); !s.ok()) return s;
    at::Tensor gathered = at::cat(all_ids);
    at::Tensor rows = std::get<0>(at::_unique(gathered.masked_select(gathered.ge(0)), true))
                          .to(parameter.device());
    at::Tensor values = parameter.grad().index_select(0, rows).contiguous();
    if (auto s = comm.AllReduceSync(values, ReduceOp::kSum); !s.ok()) return s;
    parameter.mutable_grad().index_copy_(0, rows, values);
    sparse_rows = rows.numel();
    state.synchronized_rows = rows.to(at::kCPU);
  }
  if (stats != nullptr) {
    stats->dense_elements = dense;
    stats->sparse_rows = sparse_rows;
    stats->wait_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return absl::OkStatus();
}

}  // namespace murmur::worker
