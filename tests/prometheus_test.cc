// A real Prometheus server (Debian's `prometheus`, installed by deploy/setup.sh) scrapes a
// coordinator, a worker and a murmur-serve replica every second, and the test reads murmur
// samples back through Prometheus' HTTP API: each target is up, the worker and coordinator report
// training progress, and serving reports the model version the coordinator published to it. So
// the exposition format, the endpoints and the metric names are checked by the real consumer.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/subprocess.h"
#include "base/test_util.h"
#include "tests/cluster.h"

namespace murmur::testing {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";

// A port that was free a moment ago (Prometheus cannot report a port it picked itself).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[4];
      std::snprintf(hex, sizeof(hex), "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

// One instant-query result: the series' labels and its value.
struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Runs `query` against Prometheus' HTTP API; an error when Prometheus does not answer "success".
absl::StatusOr<std::vector<Sample>> Query(int port, const std::string& query) {
  const std::string response =
      HttpGet(port, "/api/v1/query?query=" + UrlEncode(query), /*timeout_seconds=*/5);
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return absl::UnavailableError("no answer: " + response);
  const auto json = nlohmann::json::parse(response.substr(body + 4), nullptr, false);
  if (json.is_discarded() || json.value("status", "") != "success") {
    return absl::UnavailableError("query " + query + ": " + response);
  }
  std::vector<Sample> samples;
  for (const auto& result : json["data"]["result"]) {
    Sample& sample = samples.emplace_back();
    for (const auto& [name, value] : result["metric"].items()) {
      sample.labels[name] = value.get<std::string>();
    }
    // "value": [<unix time>, "<value as a string>"]
    sample.value = std::stod(result["value"][1].get<std::string>());
  }
  return samples;
}

using Deadline = std::chrono::steady_clock::time_point;

Deadline SecondsFromNow(double seconds) {
  return std::chrono::steady_clock::now() +
         std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Polls `query` every 500 ms until `accept` holds for its samples (sets *accepted) or the
// deadline passes; returns the last samples seen, so a failure shows what Prometheus had.
std::vector<Sample> WaitForQuery(int port, const std::string& query,
                                 const std::function<bool(const std::vector<Sample>&)>& accept,
                                 Deadline deadline, bool* accepted) {
  std::vector<Sample> last;
  *accepted = false;
  do {
    auto samples = Query(port, query);
    if (samples.ok()) {
      last = *std::move(samples);
      if (accept(last)) {
        *accepted = true;
        return last;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  } while (std::chrono::steady_clock::now() < deadline);
  return last;
}

std::string Describe(const std::vector<Sample>& samples) {
  std::string out = "[";
  for (const Sample& sample : samples) {
    absl::StrAppend(&out, " {");
    for (const auto& [name, value] : sample.labels) absl::StrAppend(&out, name, "=", value, " ");
    absl::StrAppend(&out, "} ", sample.value);
  }
  return out + " ]";
}

// A single series whose value satisfies `ok`.
std::function<bool(const std::vector<Sample>&)> One(std::function<bool(double)> ok) {
  return [ok](const std::vector<Sample>& samples) {
    return samples.size() == 1 && ok(samples[0].value);
  };
}

TEST(PrometheusTest, ScrapesCoordinatorWorkerAndServing) {
  ASSERT_EQ(::access(kPrometheus, X_OK), 0)
      << kPrometheus << " is missing: this test needs the Debian package `prometheus`; run "
      << "deploy/setup.sh (it installs it)";

  // A job that keeps training while Prometheus scrapes: the tiny preset, ~20 steps per epoch,
  // evaluation and a checkpoint every epoch, and far more epochs than the test waits for.
  const std::string corpus = WriteTweetCorpus(TempDir() + "/corpus", 100);
  Cluster cluster("prometheus", corpus,
                  "\"model_preset\": \"tiny\", \"batch_per_worker\": 8, \"epochs\": 1000, "
                  "\"max_length\": 32, \"learning_rate\": 0.001, \"threads_per_worker\": 1");
  cluster.EnableMetrics();
  ASSERT_TRUE(cluster.StartServing().ok()) << cluster.Logs();
  // The coordinator publishes each new best checkpoint to the replica.
  ASSERT_TRUE(cluster.StartCoordinator({"--publish-to", cluster.serving_address()}).ok())
      << cluster.Logs();
  ASSERT_TRUE(cluster.AddWorker("w0").ok());

  std::map<std::string, int> ports;
  for (const std::string process : {"coordinator", "w0", "serving"}) {
    auto port = cluster.MetricsPort(process);
    ASSERT_TRUE(port.ok()) << port.status() << cluster.Logs();
    ports[process == "w0" ? "worker" : process] = *port;
  }

  std::string config =
      "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
      "scrape_configs:\n";
  for (const auto& [job, port] : ports) {
    absl::StrAppend(&config, "  - job_name: ", job, "\n    static_configs:\n",
                    "      - targets: ['127.0.0.1:", port, "']\n");
  }
  const std::string config_path = cluster.dir() + "/prometheus.yml";
  ASSERT_TRUE(WriteFileAtomically(config_path, config).ok());
  const int prometheus_port = FreePort();
  ASSERT_GT(prometheus_port, 0);
  const std::string prometheus_log = cluster.dir() + "/logs/prometheus.log";
  auto prometheus = Subprocess::Start(
      {kPrometheus, "--config.file=" + config_path,
       "--storage.tsdb.path=" + cluster.dir() + "/prometheus-data",
       absl::StrCat("--web.listen-address=127.0.0.1:", prometheus_port)},
      prometheus_log);
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  auto logs = [&] {
    auto log = ReadFile(prometheus_log);
    std::string tail = log.ok() ? log->substr(log->size() > 3000 ? log->size() - 3000 : 0) : "";
    return absl::StrCat(cluster.Logs(), "\n--- prometheus.log\n", tail, "\nconfig:\n", config);
  };

  // Every target scraped successfully: up == 1 for all three jobs.
  bool accepted = false;
  std::vector<Sample> up = WaitForQuery(
      prometheus_port, "up",
      [](const std::vector<Sample>& samples) {
        int healthy = 0;
        for (const Sample& sample : samples) healthy += sample.value == 1;
        return samples.size() == 3 && healthy == 3;
      },
      SecondsFromNow(45), &accepted);
  ASSERT_TRUE(accepted) << "up: " << Describe(up) << "\n" << logs();
  std::set<std::string> jobs;
  for (const Sample& sample : up) jobs.insert(sample.labels.at("job"));
  EXPECT_EQ(jobs, (std::set<std::string>{"coordinator", "serving", "worker"}));

  // One murmur sample per process, read back through Prometheus.
  struct Expectation {
    std::string query;
    std::function<bool(const std::vector<Sample>&)> accept;
  };
  const std::vector<Expectation> expectations = {
      // The worker trains: steps counted, and the job's step moved past the first ones.
      {R"(murmur_worker_global_step{job="worker"})", One([](double v) { return v >= 3; })},
      {R"(murmur_worker_steps_total{job="worker"})", One([](double v) { return v >= 3; })},
      {R"(murmur_worker_step_seconds_count{job="worker"})", One([](double v) { return v >= 3; })},
      {R"(murmur_worker_world_size{job="worker"})", One([](double v) { return v == 1; })},
      {R"(murmur_worker_loss{job="worker"})", One([](double v) { return v > 0 && v < 10; })},
      // The coordinator sees the same job: running, one active worker, steps recorded.
      {R"(murmur_coordinator_state{job="coordinator",state="running"})",
       One([](double v) { return v == 1; })},
      {R"(murmur_coordinator_workers{job="coordinator",state="active"})",
       One([](double v) { return v == 1; })},
      {R"(murmur_coordinator_global_step{job="coordinator"})",
       One([](double v) { return v >= 3; })},
      // Serving answers with the checkpoint the coordinator published after the first epoch.
      {R"(murmur_model_version{job="serving",model="sentiment"})",
       One([](double v) { return v >= 1; })},
  };
  // One budget for all: a broken metric fails within it instead of once per query.
  const Deadline deadline = SecondsFromNow(45);
  for (const Expectation& expectation : expectations) {
    std::vector<Sample> samples =
        WaitForQuery(prometheus_port, expectation.query, expectation.accept, deadline, &accepted);
    EXPECT_TRUE(accepted) << expectation.query << ": " << Describe(samples) << "\n" << logs();
  }
  (*prometheus)->Stop(std::chrono::seconds(5));
  // The cluster's destructor stops the worker, the coordinator and serving.
}

}  // namespace
}  // namespace murmur::testing
