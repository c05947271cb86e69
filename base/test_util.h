// Helpers for tests: where the real data and the per-test scratch directory are.
// Test-only (testonly = True in BUILD).
#ifndef MURMUR_BASE_TEST_UTIL_H_
#define MURMUR_BASE_TEST_UTIL_H_

#include <functional>
#include <string>

namespace murmur::testing {

// Polls `condition` every millisecond or so until it holds (true) or `timeout_seconds` pass
// (false): every wait in a test has a deadline, so a broken condition fails instead of hanging.
// Use as ASSERT_TRUE(WaitUntil(...)) << "what never happened".
bool WaitUntil(const std::function<bool()>& condition, double timeout_seconds = 30);

// Path of `relative` under ../shared/data, from MURMUR_SHARED_DATA (deploy/test.sh passes it).
// Records a test failure naming the variable when it is unset, so a missing data directory fails
// loudly instead of skipping.
std::string SharedDataPath(const std::string& relative);

// Bazel's per-test scratch directory ($TEST_TMPDIR), or /tmp outside Bazel.
std::string TempDir();

// Runs a shell command; returns its exit status (-1 when it could not be run). Output goes to
// the test log.
int RunShell(const std::string& command);

// `GET path HTTP/1.0` to 127.0.0.1:port over a plain socket; returns the whole response (status
// line, headers, body), or "" when the connection failed. Reads for at most `timeout_seconds`,
// so a server that never answers fails the test instead of hanging it.
std::string HttpGet(int port, const std::string& path, double timeout_seconds = 10);

}  // namespace murmur::testing

#endif  // MURMUR_BASE_TEST_UTIL_H_
