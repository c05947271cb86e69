// ingest_bench: wall time and peak memory of read + clean + split + tokenize + write cache on a
// Sentiment140-sized corpus (1.6M rows, ~240 MB), generated from the real 100k tweets.
// Targets: < 10 s wall on 2 cores, < 1 GB peak RSS.
//
//   bazel run //data:ingest_bench -- --shared-data /path/to/shared/data
//
// The corpus is generated once into --work-dir and reused by later runs (same rows and seed).
// Generation runs in a child process so that the reported peak RSS is ingestion's alone.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file.h"
#include "base/flags.h"
#include "data/corpus_generator.h"
#include "data/ingest.h"
#include "data/token_cache.h"
#include "text/tokenizer.h"

namespace murmur::data {
namespace {

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Generates the corpus in a child process (its memory must not count as ingestion's).
bool GenerateInChild(const std::string& from, const std::string& out,
                     const CorpusGeneratorOptions& options) {
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    const auto start = std::chrono::steady_clock::now();
    auto report = GenerateCorpusFile(from, out, options);
    if (!report.ok()) {
      std::fprintf(stderr, "corpus generation failed: %s\n",
                   std::string(report.status().message()).c_str());
      std::_Exit(1);
    }
    std::printf("generated %s: %llu rows, %.1f MB in %.2f s\n", out.c_str(),
                static_cast<unsigned long long>(report->rows), report->bytes / 1e6,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    std::fflush(stdout);
    std::_Exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int Main(int argc, char** argv) {
  FlagParser flags("ingest_bench");
  const char* env = std::getenv("MURMUR_SHARED_DATA");
  std::string shared = env != nullptr ? env : "";
  std::string work_dir = "/tmp/murmur_ingest_bench";
  int64_t rows = 1600000, seed = 1;
  int repetitions = 3, threads = 0, max_len = 128;
  flags.String("shared-data", &shared,
               "the shared data directory (default: $MURMUR_SHARED_DATA)");
  flags.String("work-dir", &work_dir, "where the corpus and the cache go");
  flags.Int("rows", &rows, "rows of the generated corpus");
  flags.Int("seed", &seed, "generator seed");
  flags.Int("repetitions", &repetitions, "ingest runs; the median is reported");
  flags.Int("threads", &threads, "parse/tokenize threads (0: all cores)");
  flags.Int("max-len", &max_len, "max ids per row");
  flags.ParseOrExit(argc, argv);
  if (shared.empty() || repetitions < 1) {
    std::fprintf(stderr, "need --shared-data or $MURMUR_SHARED_DATA, repetitions >= 1\n%s",
                 flags.Usage().c_str());
    return 2;
  }
  if (auto made = MakeDirectories(work_dir); !made.ok()) {
    std::fprintf(stderr, "%s\n", std::string(made.message()).c_str());
    return 1;
  }
  const std::string corpus = absl::StrCat(work_dir, "/corpus_", rows, "_seed", seed, ".csv");
  const std::string cache = absl::StrCat(work_dir, "/corpus_", rows, "_seed", seed, ".cache");
  if (!PathExists(corpus)) {
    CorpusGeneratorOptions options;
    options.rows = static_cast<uint64_t>(rows);
    options.seed = static_cast<uint64_t>(seed);
    if (!GenerateInChild(shared + "/sentiment140_text_100k", corpus, options)) return 1;
  } else {
    std::printf("reusing %s\n", corpus.c_str());
  }

  auto start = std::chrono::steady_clock::now();
  auto tokenizer =
      text::Tokenizer::FromVocabFile(shared + "/distilbert-base-uncased/vocab.txt");
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", std::string(tokenizer.status().message()).c_str());
    return 1;
  }
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  IngestOptions options;
  options.max_length = max_len;
  options.num_threads = threads;
  options.force_rebuild = true;
  std::vector<double> read, clean, split, tokenize, write, total;
  IngestReport last;
  for (int rep = 0; rep < repetitions; ++rep) {
    auto report = Ingest(corpus, **tokenizer, cache, options);
    if (!report.ok()) {
      std::fprintf(stderr, "ingest failed: %s\n", std::string(report.status().message()).c_str());
      return 1;
    }
    read.push_back(report->read_seconds);
    clean.push_back(report->clean_seconds);
    split.push_back(report->split_seconds);
    tokenize.push_back(report->tokenize_seconds);
    write.push_back(report->write_seconds);
    total.push_back(report->total_seconds);
    std::printf("run %d: total %.2f s (read %.2f, clean %.2f, split %.2f, tokenize %.2f, "
                "write %.2f)\n",
                rep + 1, report->total_seconds, report->read_seconds, report->clean_seconds,
                report->split_seconds, report->tokenize_seconds, report->write_seconds);
    last = *std::move(report);
  }
  struct rusage usage;
  ::getrusage(RUSAGE_SELF, &usage);
  const double peak_mb = usage.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux
  const double median_total = Median(total);

  std::printf("\n%s", last.ToString().c_str());
  std::printf("\ningest of %s (%d repetitions, median; %u hardware threads)\n", corpus.c_str(),
              repetitions, std::thread::hardware_concurrency());
  std::printf("  read      %6.2f s\n  clean     %6.2f s\n  split     %6.2f s\n"
              "  tokenize  %6.2f s\n  write     %6.2f s\n  total     %6.2f s   (target < 10 s: %s)\n",
              Median(read), Median(clean), Median(split), Median(tokenize), Median(write),
              median_total, median_total < 10 ? "met" : "MISSED");
  std::printf("  peak RSS  %6.0f MB  (target < 1024 MB: %s)\n", peak_mb,
              peak_mb < 1024 ? "met" : "MISSED");
  std::printf("  tokenizer load %.2f s (not included)\n", load_seconds);

  // What a worker pays afterwards: opening (and fully verifying) the cache.
  start = std::chrono::steady_clock::now();
  auto opened = TokenCache::Open(cache);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", std::string(opened.status().message()).c_str());
    return 1;
  }
  const double open_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  cache open + verify %.3f s (%zu training rows)\n", open_seconds,
              (*opened)->train_rows().size());
  std::printf("\nreproduce: bazel run //data:ingest_bench -- --shared-data %s --work-dir %s "
              "--rows %lld --seed %lld --repetitions %d --threads %d --max-len %d\n",
              shared.c_str(), work_dir.c_str(), static_cast<long long>(rows),
              static_cast<long long>(seed), repetitions, threads, max_len);
  return 0;
}

}  // namespace
}  // namespace murmur::data

int main(int argc, char** argv) { return murmur::data::Main(argc, argv); }
