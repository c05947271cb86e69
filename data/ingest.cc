#include "data/ingest.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace murmur::data {
namespace {

class Stopwatch {
 public:
  double Lap() {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return seconds;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// Fills the counts a reused cache can still tell.
void ReportFromCache(const TokenCache& cache, IngestReport* report) {
  const TokenCacheInfo& info = cache.info();
  report->cache_reused = true;
  report->read.lines = info.counts.lines_read;
  report->read.malformed = info.counts.malformed;
  report->read.examples = info.counts.lines_read - info.counts.malformed;
  report->clean.input_rows = report->read.examples;
  report->clean.kept_rows = info.num_rows;
  report->clean.duplicate_rows_dropped = info.counts.duplicate_rows_dropped;
  report->clean.conflicting_texts = info.counts.conflicting_texts;
  report->clean.conflicting_rows_dropped = info.counts.conflicting_rows_dropped;
  report->train_rows = info.num_rows - info.num_validation;
  report->validation_rows = info.num_validation;
  report->tokens = info.num_tokens;
  report->cache_bytes = info.file_bytes;
}

}  // namespace

absl::StatusOr<IngestReport> Ingest(const std::string& data_path, const TextEncoder& encoder,
                                    const std::string& cache_path,
                                    const IngestOptions& options) {
  if (auto status = ValidateSplitOptions(options.split); !status.ok()) return status;
  if (options.max_length < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_length must be at least 2 ([CLS] and [SEP]), got ", options.max_length));
  }
  Stopwatch total, phase;
  auto sources = ResolveCorpusSources(data_path);
  if (!sources.ok()) return sources.status();
  TokenCacheKey key;
  key.vocab_fingerprint = encoder.vocab_fingerprint();
  auto source_fingerprint = SourceFingerprint(sources->files);
  if (!source_fingerprint.ok()) return source_fingerprint.status();
  key.source_fingerprint = *std::move(source_fingerprint);
  key.max_length = options.max_length;
  key.split = options.split;
  key.include_neutral = options.read.include_neutral;

  IngestReport report;
  if (!options.force_rebuild && PathExists(cache_path)) {
    // Any problem with the old cache (corrupt, old format, other key) just means: rebuild.
    auto cache = TokenCache::Open(cache_path);
    if (cache.ok() && (*cache)->info().key == key) {
      ReportFromCache(**cache, &report);
      report.total_seconds = total.Lap();
      return report;
    }
  }

  ReadOptions read_options = options.read;
  if (options.num_threads > 0) read_options.num_threads = options.num_threads;
  auto corpus = ReadCorpus(data_path, read_options);
  if (!corpus.ok()) return corpus.status();
  report.read = corpus->report();
  report.read_seconds = phase.Lap();

  CleanResult cleaned = CleanExamples(corpus->examples());
  report.clean = cleaned.report;
  report.clean_seconds = phase.Lap();
  if (cleaned.kept.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no usable rows in ", data_path, ": ",
                                                   report.read.MalformedSummary(), "; ",
                                                   report.clean.ToString()));
  }

  const std::vector<uint8_t> validation =
      SplitRows(corpus->examples(), cleaned.kept, options.split);
  for (uint8_t v : validation) report.validation_rows += v;
  report.train_rows = validation.size() - report.validation_rows;
  report.split_seconds = phase.Lap();

  IngestCounts counts;
  counts.lines_read = report.read.lines;
  counts.malformed = report.read.malformed;
  counts.duplicate_rows_dropped = report.clean.duplicate_rows_dropped;
  counts.conflicting_texts = report.clean.conflicting_texts;
  counts.conflicting_rows_dropped = report.clean.conflicting_rows_dropped;
  TokenCacheBuildOptions build_options;
  build_options.num_threads = options.num_threads;
  auto stats = BuildTokenCache(cache_path, key, counts, corpus->examples(), cleaned.kept,
                               validation, encoder, build_options);
  if (!stats.ok()) return stats.status();
  report.tokens = stats->num_tokens;
  report.rows_at_max_length = stats->rows_at_max_length;
  report.cache_bytes = stats->file_bytes;
  report.tokenize_seconds = stats->tokenize_seconds;
  report.write_seconds = stats->write_seconds;
  report.total_seconds = total.Lap();
  return report;
}

std::string IngestReport::ToString() const {
  std::string out;
  absl::StrAppend(&out, cache_reused ? "cache is fresh: reused (counts from its header)\n"
                                     : "cache rebuilt\n");
  absl::StrAppend(&out, "rows read:            ", read.lines, "\n");
  absl::StrAppend(&out, "malformed:            ", read.MalformedSummary(), "\n");
  absl::StrAppend(&out, "duplicates dropped:   ", clean.duplicate_rows_dropped, "\n");
  absl::StrAppend(&out, "conflicting dropped:  ", clean.conflicting_rows_dropped, " rows (",
                  clean.conflicting_texts, " texts)\n");
  absl::StrAppend(&out, "train rows:           ", train_rows, "\n");
  absl::StrAppend(&out, "validation rows:      ", validation_rows, "\n");
  absl::StrAppend(&out, "tokens:               ", tokens);
  if (train_rows + validation_rows > 0) {
    absl::StrAppend(&out, absl::StrFormat(" (%.1f per row)", static_cast<double>(tokens) /
                                                                  (train_rows + validation_rows)));
  }
  if (!cache_reused) absl::StrAppend(&out, ", ", rows_at_max_length, " rows at max length");
  absl::StrAppend(&out, "\ncache bytes:          ", cache_bytes, "\n");
  absl::StrAppend(&out, absl::StrFormat(
                            "time:                 %.2f s (read %.2f, clean %.2f, split %.2f, "
                            "tokenize %.2f, write %.2f)\n",
                            total_seconds, read_seconds, clean_seconds, split_seconds,
                            tokenize_seconds, write_seconds));
  return out;
}

}  // namespace murmur::data
