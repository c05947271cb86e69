// Samples per second over the most recent training steps: those spanning the last
// `window_seconds` of step time (at least the newest step). What a progress line, a heartbeat
// and the ETA built from them should show: one step's own rate swings 2-3x on a shared machine
// (a rank waiting for the slower one, a neighbour's load), and an ETA computed from it jumps
// with it. tqdm and the Hugging Face Trainer's progress bar smooth for the same reason.
//
// Value type; not thread-safe. The training loop keeps two per generation, on its own thread:
// this rank's samples (heartbeats) and the job's (rank 0's progress line and its ETA).
#ifndef MURMUR_WORKER_THROUGHPUT_WINDOW_H_
#define MURMUR_WORKER_THROUGHPUT_WINDOW_H_

#include <cstdint>
#include <deque>

namespace murmur::worker {

class ThroughputWindow {
 public:
  explicit ThroughputWindow(double window_seconds) : window_seconds_(window_seconds) {}

  // One step: the samples it trained and its wall time (non-positive times are ignored).
  void Add(int64_t samples, double seconds);
  // Samples per second over the window; 0 before the first step.
  double SamplesPerSecond() const;
  // Seconds the window spans (the sum of its steps' times).
  double seconds() const { return seconds_; }

 private:
  struct Step {
    int64_t samples;
    double seconds;
  };
  double window_seconds_;
  std::deque<Step> steps_;
  int64_t samples_ = 0;
  double seconds_ = 0;
};

}  // namespace murmur::worker

#endif  // MURMUR_WORKER_THROUGHPUT_WINDOW_H_
