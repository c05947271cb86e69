// SIGTERM and SIGINT as an event a thread waits for, handled the same way by every murmur
// program (coordinator, worker, serving): the program's main starts a thread that waits, then
// shuts down gracefully.
//
// A handler, not a signal mask with sigwait: a mask covers only the threads started after it is
// set, and the libraries murmur links (libtorch's thread pools, gRPC's) may have started threads
// before main runs; a signal the kernel then delivers to one of those threads would take its
// default action and kill the process. A handler is process-wide, whichever thread the kernel
// picks. The handler only writes the signal number to a pipe (async-signal-safe).
//
// Thread-safe. One waiter at a time.
#ifndef MURMUR_BASE_SHUTDOWN_SIGNAL_H_
#define MURMUR_BASE_SHUTDOWN_SIGNAL_H_

#include "absl/status/status.h"

namespace murmur {

// Installs the handler for SIGTERM and SIGINT. Call once, early in main. INTERNAL when the pipe
// or the handler cannot be set up.
absl::Status InstallShutdownSignalHandler();

// Blocks until a shutdown signal arrives (returns its number) or WakeShutdownWaiter is called
// (returns 0).
int WaitForShutdownSignal();

// Wakes WaitForShutdownSignal without a signal: the program ends for another reason and joins
// its waiting thread.
void WakeShutdownWaiter();

}  // namespace murmur

#endif  // MURMUR_BASE_SHUTDOWN_SIGNAL_H_
