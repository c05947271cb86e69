// The serving-side subcommands of `murmur`:
//   murmur classify --target HOST:PORT [--target ...] [TEXT ...]   (texts on stdin otherwise)
//   murmur publish --target HOST:PORT --model DIR [--token-file F] [--name M] [--version N]
//   murmur bench serve --target HOST:PORT --concurrency C --duration S [--texts FILE]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "base/file.h"
#include "base/flags.h"
#include "client/commands.h"
#include "nlohmann/json.hpp"
#include "serving/client/serving_client.h"

namespace murmur::client {
namespace {

using serving::ServingClient;

// Flags every serving subcommand shares.
struct ConnectionFlags {
  std::vector<std::string> targets;
  std::string tls_ca, tls_cert, tls_key, inference_token_file;
  bool tls = false;
  double timeout_s = 30;

  void Register(FlagParser& flags) {
    flags.Repeated("target", &targets,
                   "server HOST:PORT or gRPC target (repeat to spread load; a DNS name with "
                   "several addresses is spread too)");
    flags.Bool("tls", &tls, "use TLS (system roots unless --tls-ca)");
    flags.String("tls-ca", &tls_ca, "PEM CA to verify the server");
    flags.String("tls-cert", &tls_cert, "PEM client certificate (mutual TLS)");
    flags.String("tls-key", &tls_key, "PEM client key (mutual TLS)");
    flags.Double("timeout", &timeout_s, "seconds per call");
    flags.String("inference-token-file", &inference_token_file,
                 "file holding the bearer token of a server started with --inference-token-file");
  }

  absl::StatusOr<ServingClient::Options> ToOptions() const {
    ServingClient::Options options;
    if (targets.empty()) return absl::InvalidArgumentError("--target is required");
    options.targets = targets;
    options.tls = tls || !tls_ca.empty() || !tls_cert.empty();
    if (!inference_token_file.empty()) {
      absl::StatusOr<std::string> token = ReadFile(inference_token_file);
      if (!token.ok()) return token.status();
      options.inference_token = std::string(absl::StripAsciiWhitespace(*token));
    }
    for (auto [path, out] : {std::pair{&tls_ca, &options.tls_root_ca_pem},
                             std::pair{&tls_cert, &options.tls_client_cert_pem},
                             std::pair{&tls_key, &options.tls_client_key_pem}}) {
      if (path->empty()) continue;
      absl::StatusOr<std::string> pem = ReadFile(*path);
      if (!pem.ok()) return pem.status();
      *out = std::move(*pem);
    }
    options.timeout = absl::Seconds(timeout_s);
    return options;
  }
};

// The JSON line of `murmur predict` (client/model_commands.cc), plus the model version.
std::string FormatClassification(const serving::v1::Classification& result, int64_t version) {
  std::string out = absl::StrFormat(R"({"label": %s, "score": %.6g, "probabilities": [)",
                                    nlohmann::json(result.label()).dump(), result.score());
  for (int i = 0; i < result.probabilities_size(); ++i) {
    absl::StrAppendFormat(&out, "%s%.6g", i ? ", " : "", result.probabilities(i));
  }
  absl::StrAppendFormat(&out, "], \"model_version\": %d}\n", version);
  return out;
}

int Fail(const char* command, const absl::Status& status) {
  std::cerr << "murmur " << command << ": " << status << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int ClassifyCommand(const CommandArgs& args) {
  FlagParser flags("murmur classify");
  ConnectionFlags connection;
  connection.Register(flags);
  std::string model;
  int64_t version = 0;
  int batch = 64;
  flags.String("model", &model, "model name (default: the server's default model)");
  flags.Int("version", &version, "model version (0: the latest)");
  flags.Int("batch", &batch, "texts per request when reading stdin");
  if (auto exit_code = flags.ParseOrExitCode(args)) return *exit_code;
  absl::StatusOr<ServingClient::Options> options = connection.ToOptions();
  if (!options.ok()) return Fail("classify", options.status());
  if (batch < 1) return Fail("classify", absl::InvalidArgumentError("--batch must be >= 1"));
  absl::StatusOr<std::unique_ptr<ServingClient>> client = ServingClient::Create(*options);
  if (!client.ok()) return Fail("classify", client.status());

  auto run = [&](const std::vector<std::string>& texts) {
    absl::StatusOr<serving::v1::ClassifyResponse> response =
        (*client)->Classify(texts, model, version);
    if (!response.ok()) return Fail("classify", response.status());
    std::string out;
    for (const auto& result : response->results()) {
      out += FormatClassification(result, response->version());
    }
    std::cout << out << std::flush;
    return 0;
  };
  if (!flags.positional().empty()) return run(flags.positional());
  std::vector<std::string> texts;
  std::string line;
  while (std::getline(std::cin, line)) {
    texts.push_back(line);
    if (static_cast<int>(texts.size()) == batch) {
      if (int rc = run(texts); rc != 0) return rc;
      texts.clear();
    }
  }
  return texts.empty() ? 0 : run(texts);
}

int PublishCommand(const CommandArgs& args) {
  FlagParser flags("murmur publish");
  ConnectionFlags connection;
  connection.Register(flags);
  std::string dir, token_file, name;
  int64_t version = 0;
  flags.String("model", &dir, "checkpoint directory to push", /*required=*/true);
  flags.String("token-file", &token_file, "file holding the server's bearer token");
  flags.String("name", &name, "model name in the repository (default: the server's default)");
  flags.Int("version", &version, "version number (0: the server picks the next one)");
  connection.timeout_s = 120;
  if (auto exit_code = flags.ParseOrExitCode(args)) return *exit_code;
  absl::StatusOr<ServingClient::Options> options = connection.ToOptions();
  if (!options.ok()) return Fail("publish", options.status());
  if (!token_file.empty()) {
    absl::StatusOr<std::string> token = ReadFile(token_file);
    if (!token.ok()) return Fail("publish", token.status());
    options->token = std::string(absl::StripAsciiWhitespace(*token));
  }
  absl::StatusOr<std::unique_ptr<ServingClient>> client = ServingClient::Create(*options);
  if (!client.ok()) return Fail("publish", client.status());
  absl::StatusOr<serving::v1::PushVersionResponse> pushed = (*client)->Push(dir, name, version);
  if (!pushed.ok()) return Fail("publish", pushed.status());
  std::cout << "published model '" << pushed->model() << "' version " << pushed->version() << " ("
            << absl::StripPrefix(serving::v1::VersionState_Name(pushed->state()), "VERSION_")
            << ")\n";
  return 0;
}

namespace {

const std::vector<std::string>& BuiltinTexts() {
  static const auto* texts = new std::vector<std::string>{
      "just got back from the beach and it was lovely",
      "my flight got cancelled again, worst day ever",
      "can't wait for the weekend!!",
      "ugh, monday morning and the coffee machine is broken",
      "watching the game with friends tonight",
      "lost my phone on the bus, so annoyed",
      "thanks everyone for the birthday wishes, you made my day",
      "feeling sick and stuck at home",
  };
  return *texts;
}

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t index = static_cast<size_t>(p * (sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

int BenchServe(const CommandArgs& args) {
  FlagParser flags("murmur bench serve");
  ConnectionFlags connection;
  connection.Register(flags);
  int concurrency = 16, batch = 1;
  double duration_s = 10, rate = 0, warmup_s = 1;
  std::string texts_path;
  bool json = false;
  flags.Int("concurrency", &concurrency, "client threads with one request in flight each");
  flags.Double("duration", &duration_s, "seconds to measure");
  flags.Double("warmup", &warmup_s, "seconds of load before measuring");
  flags.String("texts", &texts_path, "texts to send, one per line (default: a few built-in)");
  flags.Int("batch", &batch, "texts per request");
  flags.Double("rate", &rate, "requests/s to offer in total (0: as fast as responses come)");
  flags.Bool("json", &json, "also print the numbers as one JSON line");
  if (auto exit_code = flags.ParseOrExitCode(args)) return *exit_code;
  absl::StatusOr<ServingClient::Options> options = connection.ToOptions();
  if (!options.ok()) return Fail("bench serve", options.status());
  if (concurrency < 1 || batch < 1 || duration_s <= 0 || rate < 0) {
    return Fail("bench serve", absl::InvalidArgumentError(
                                   "--concurrency, --batch, --duration must be positive"));
  }
  std::vector<std::string> texts = BuiltinTexts();
  if (!texts_path.empty()) {
    absl::StatusOr<std::string> contents = ReadFile(texts_path);
    if (!contents.ok()) return Fail("bench serve", contents.status());
    texts = absl::StrSplit(*contents, '\n', absl::SkipEmpty());
    if (texts.empty()) return Fail("bench serve", absl::InvalidArgumentError("no texts"));
  }
  options->max_attempts = 1;  // count errors, do not hide them
  absl::StatusOr<std::unique_ptr<ServingClient>> client = ServingClient::Create(*options);
  if (!client.ok()) return Fail("bench serve", client.status());

  const absl::Time start = absl::Now();
  const absl::Time measure_from = start + absl::Seconds(warmup_s);
  const absl::Time end = measure_from + absl::Seconds(duration_s);
  std::atomic<uint64_t> ticket{0};
  struct PerThread {
    std::vector<double> latencies_ms;
    std::map<std::string, int64_t> errors;
    int64_t texts = 0;
  };
  std::vector<PerThread> results(concurrency);
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      PerThread& mine = results[t];
      std::vector<std::string> request(batch);
      while (true) {
        const uint64_t k = ticket.fetch_add(1);
        absl::Time sent = absl::Now();
        if (rate > 0) {
          // Open loop: request k is due at a fixed time; latency counts from then, so a slow
          // server cannot hide its queueing by slowing the client down.
          sent = start + absl::Seconds(static_cast<double>(k) / rate);
          if (sent >= end) break;
          absl::SleepFor(sent - absl::Now());
        } else if (sent >= end) {
          break;
        }
        for (int i = 0; i < batch; ++i) request[i] = texts[(k * batch + i) % texts.size()];
        absl::StatusOr<serving::v1::ClassifyResponse> response = (*client)->Classify(request);
        const absl::Time done = absl::Now();
        if (sent < measure_from || done > end) continue;
        if (response.ok()) {
          mine.latencies_ms.push_back(absl::ToDoubleMilliseconds(done - sent));
          mine.texts += response->results_size();
        } else {
          ++mine.errors[absl::StatusCodeToString(response.status().code())];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::vector<double> latencies;
  std::map<std::string, int64_t> errors;
  int64_t classified = 0;
  for (PerThread& r : results) {
    latencies.insert(latencies.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    for (const auto& [code, n] : r.errors) errors[code] += n;
    classified += r.texts;
  }
  std::sort(latencies.begin(), latencies.end());
  const double requests_per_s = latencies.size() / duration_s;
  const double texts_per_s = classified / duration_s;
  const double p50 = Percentile(latencies, 0.50), p90 = Percentile(latencies, 0.90),
               p99 = Percentile(latencies, 0.99);
  std::printf("requests/s         %.1f\n", requests_per_s);
  std::printf("classifications/s  %.1f\n", texts_per_s);
  std::printf("latency ms         p50 %.2f  p90 %.2f  p99 %.2f\n", p50, p90, p99);
  std::printf("errors             %s\n", errors.empty() ? "none" : "");
  for (const auto& [code, n] : errors) std::printf("  %-20s %lld\n", code.c_str(), (long long)n);
  if (json) {
    nlohmann::json line = {{"requests_per_s", requests_per_s},
                           {"classifications_per_s", texts_per_s},
                           {"p50_ms", p50},
                           {"p90_ms", p90},
                           {"p99_ms", p99},
                           {"errors", errors}};
    std::printf("%s\n", line.dump().c_str());
  }
  return 0;
}

}  // namespace

int BenchCommand(const CommandArgs& args) {
  if (!args.empty() && args[0] == "serve") return BenchServe(CommandArgs(args.begin() + 1, args.end()));
  std::cerr << "usage: murmur bench serve --target HOST:PORT --concurrency C --duration S "
               "[--texts FILE]\n";
  return 2;
}

}  // namespace murmur::client
