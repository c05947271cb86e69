#include "coordinator/kv_store.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/time/clock.h"

namespace murmur::coordinator {
namespace {

TEST(KeyValueStoreTest, SetGetCheckDelete) {
  KeyValueStore store;
  EXPECT_FALSE(store.Check({"a"}));
  store.Set("a", "1");
  store.Set("b", std::string("\0x", 2));
  EXPECT_TRUE(store.Check({"a", "b"}));
  EXPECT_FALSE(store.Check({"a", "c"}));
  auto value = store.Get({"b", "a"}, absl::Seconds(1));
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, std::string("\0x", 2));  // the first key's value, bytes intact
  EXPECT_EQ(store.NumKeys(), 2);
  EXPECT_TRUE(store.Delete("a"));
  EXPECT_FALSE(store.Delete("a"));
  EXPECT_EQ(store.NumKeys(), 1);
}

TEST(KeyValueStoreTest, GetTimesOutNamingTheMissingKey) {
  KeyValueStore store;
  store.Set("present", "x");
  auto value = store.Get({"present", "missing"}, absl::Milliseconds(50));
  EXPECT_EQ(value.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(value.status().message().find("missing"), std::string::npos);
  EXPECT_EQ(store.Get({}, absl::Seconds(1)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(KeyValueStoreTest, GetWaitsForASetFromAnotherThread) {
  KeyValueStore store;
  std::thread setter([&] {
    absl::SleepFor(absl::Milliseconds(50));
    store.Set("rank0/addr", "127.0.0.1:1234");
  });
  auto value = store.Get({"rank0/addr"}, absl::Seconds(30));
  setter.join();
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "127.0.0.1:1234");
}

TEST(KeyValueStoreTest, AddIsAnAtomicCounter) {
  KeyValueStore store;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) ASSERT_TRUE(store.Add("counter", 1).ok());
    });
  }
  for (auto& thread : threads) thread.join();
  auto value = store.Add("counter", 0);
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, 4000);
  EXPECT_EQ(*store.Get({"counter"}, absl::Seconds(1)), "4000");
  store.Set("text", "abc");
  EXPECT_EQ(store.Add("text", 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(KeyValueStoreTest, CancelledAndShutdownEndWaits) {
  KeyValueStore store;
  EXPECT_EQ(store.Get({"k"}, absl::Seconds(30), [] { return true; }).status().code(),
            absl::StatusCode::kCancelled);
  std::thread stopper([&] {
    absl::SleepFor(absl::Milliseconds(50));
    store.Shutdown();
  });
  EXPECT_EQ(store.Get({"k"}, absl::Seconds(30)).status().code(), absl::StatusCode::kUnavailable);
  stopper.join();
}

TEST(KeyValueStoreTest, DeletePrefixDropsOneGenerationsKeys) {
  KeyValueStore store;
  store.Set("gen-1/a", "");
  store.Set("gen-1/b", "");
  store.Set("gen-10/a", "");
  store.Set("gen-2/a", "");
  EXPECT_EQ(store.DeletePrefix("gen-1/"), 2);
  EXPECT_TRUE(store.Check({"gen-10/a", "gen-2/a"}));
}

}  // namespace
}  // namespace murmur::coordinator
