#include "base/shutdown_signal.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <future>

namespace murmur {
namespace {

TEST(ShutdownSignalTest, SignalsAndWakesReachTheWaiter) {
  ASSERT_TRUE(InstallShutdownSignalHandler().ok());
  ASSERT_TRUE(InstallShutdownSignalHandler().ok());  // a second call changes nothing

  // Raised from a thread other than the waiter's: the handler is process-wide.
  auto waiter = std::async(std::launch::async, [] { return WaitForShutdownSignal(); });
  std::thread([] { raise(SIGTERM); }).join();
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(waiter.get(), SIGTERM);

  raise(SIGINT);  // the process goes on: handled, not the default action
  EXPECT_EQ(WaitForShutdownSignal(), SIGINT);

  auto woken = std::async(std::launch::async, [] { return WaitForShutdownSignal(); });
  WakeShutdownWaiter();
  ASSERT_EQ(woken.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(woken.get(), 0);
}

}  // namespace
}  // namespace murmur
