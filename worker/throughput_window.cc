#include "worker/throughput_window.h"

namespace murmur::worker {

void ThroughputWindow::Add(int64_t samples, double seconds) {
  if (seconds <= 0) return;
  steps_.push_back({samples, seconds});
  samples_ += samples;
  seconds_ += seconds;
  // Drop the oldest steps while the rest still cover the window.
  while (steps_.size() > 1 && seconds_ - steps_.front().seconds >= window_seconds_) {
    samples_ -= steps_.front().samples;
    seconds_ -= steps_.front().seconds;
    steps_.pop_front();
  }
}

double ThroughputWindow::SamplesPerSecond() const {
  return seconds_ > 0 ? static_cast<double>(samples_) / seconds_ : 0.0;
}

}  // namespace murmur::worker
