// Tokenizer throughput on the 100,000 real tweets, one thread, against Hugging Face's tokenizers
// (Rust core through its Node binding) on the same tweets in the same run.
//
//   bazel run -c opt //text:tokenizer_bench -- [--data DIR] [--repeats N]
//
// DIR defaults to $MURMUR_SHARED_DATA, else ../shared/data beside the workspace. Hugging Face's
// package comes from $MURMUR_HF_NODE_MODULES, else deploy/setup.sh's cache.
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/flags.h"
#include "text/tokenizer.h"

namespace {

std::string DefaultDataDir() {
  if (const char* env = std::getenv("MURMUR_SHARED_DATA")) return env;
  if (const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY")) {
    return std::string(workspace) + "/../shared/data";
  }
  return "../shared/data";
}

std::string DefaultNodeModules() {
  if (const char* env = std::getenv("MURMUR_HF_NODE_MODULES")) return env;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/root") + "/.cache/murmur/hf-tokenizers-0.23.2/node_modules";
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  murmur::FlagParser flags("tokenizer_bench");
  std::string data = DefaultDataDir();
  std::string node_modules = DefaultNodeModules();
  int repeats = 5;
  flags.String("data", &data, "the shared data directory");
  flags.String("node-modules", &node_modules, "node_modules holding HF tokenizers");
  flags.Int("repeats", &repeats, "timed passes over the tweets (median reported)");
  flags.ParseOrExit(argc, argv);

  std::vector<std::string> tweets;
  std::string all;
  for (const char* name : {"negative.txt", "positive.txt"}) {
    auto contents = murmur::ReadFile(data + "/sentiment140_text_100k/" + name);
    if (!contents.ok()) {
      std::cerr << contents.status() << "\n";
      return 1;
    }
    all += *contents;
    for (absl::string_view line : absl::StrSplit(*contents, '\n', absl::SkipEmpty())) {
      tweets.emplace_back(line);
    }
  }
  auto tokenizer =
      murmur::text::Tokenizer::FromVocabFile(data + "/distilbert-base-uncased/vocab.txt");
  if (!tokenizer.ok()) {
    std::cerr << tokenizer.status() << "\n";
    return 1;
  }

  std::vector<double> rates;
  std::vector<int32_t> ids;
  int64_t total_ids = 0;
  for (int r = 0; r < repeats + 1; ++r) {  // the first pass warms caches and is not counted
    auto start = std::chrono::steady_clock::now();
    int64_t count = 0;
    for (const std::string& tweet : tweets) {
      (*tokenizer)->EncodeInto(tweet, 0, &ids);
      count += static_cast<int64_t>(ids.size());
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    total_ids = count;
    if (r > 0) rates.push_back(static_cast<double>(tweets.size()) / seconds);
  }
  double ours = Median(rates);
  std::printf("tweets=%zu ids=%lld bytes=%zu\n", tweets.size(), static_cast<long long>(total_ids),
              all.size());
  std::printf("murmur_tweets_per_s=%.0f (median of %d, 1 thread; %.1f MB/s)\n", ours, repeats,
              ours * static_cast<double>(all.size()) / tweets.size() / 1e6);

  // Hugging Face in the same run: one Rayon thread (RAYON_NUM_THREADS=1) for a like-for-like
  // comparison, and with its default thread pool for reference.
  std::string tweets_path = "/tmp/murmur_tokenizer_bench_tweets.txt";
  if (!murmur::WriteFileAtomically(tweets_path, all).ok()) return 1;
  for (const char* threads : {"1", ""}) {
    std::string command = std::string(*threads ? "RAYON_NUM_THREADS=1 " : "") + "NODE_PATH='" +
                          node_modules + "' node text/hf_reference.js '" + data +
                          "/distilbert-base-uncased/tokenizer.json' bench " + tweets_path + " " +
                          std::to_string(repeats);
    FILE* pipe = popen(command.c_str(), "r");
    char line[256] = {0};
    double hf = 0;
    while (pipe != nullptr && std::fgets(line, sizeof(line), pipe) != nullptr) {
      std::sscanf(line, "hf_tweets_per_s=%lf", &hf);
    }
    if (pipe == nullptr || pclose(pipe) != 0 || hf <= 0) {
      std::printf("hf: could not run (%s)\n", command.c_str());
      continue;
    }
    std::printf("hf_tweets_per_s=%.0f (%s, encodeBatch + getIds)  ratio murmur/hf=%.1fx\n", hf,
                *threads ? "1 thread" : "default threads", ours / hf);
  }
  std::remove(tweets_path.c_str());
  return 0;
}
