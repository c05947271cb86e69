// Time as the coordinator sees it. Failure detection and rendezvous settling read a Clock, so
// tests move time by hand (FakeClock) instead of sleeping through heartbeat timeouts.
#ifndef MURMUR_COORDINATOR_CLOCK_H_
#define MURMUR_COORDINATOR_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace murmur::coordinator {

// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The wall clock. Stateless; thread-safe.
class RealClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  // A process-wide instance (never destroyed).
  static RealClock* Get();
};

// A clock that moves only when told to. Thread-safe.
class FakeClock : public Clock {
 public:
  // Starts at 2024-01-01T00:00:00Z so event timestamps look plausible.
  FakeClock() : now_(absl::FromUnixSeconds(1704067200)) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration duration) {
    absl::MutexLock lock(&mu_);
    now_ += duration;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

inline RealClock* RealClock::Get() {
  static RealClock* const clock = new RealClock();
  return clock;
}

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_CLOCK_H_
