// Reading Sentiment140 into memory: the original 6-column CSV and the one-text-per-line files.
//
// CSV format (training.1600000.processed.noemoticon.csv): no header, one record per line (LF
// or CRLF; the last line may lack its newline), six fields
//   "target","id","date","flag","user","text"
// each normally in double quotes, `""` escaping a quote inside a quoted field. Unquoted fields
// are accepted too (re-exported copies drop the quotes) but may not contain a quote. A record
// never spans lines: the corpus has no embedded newlines, and ending a record at the newline
// keeps the damage of a stray quote to one line instead of swallowing the rest of the file.
// Bytes are latin-1 and are decoded to UTF-8 (see latin1.h). target 0 -> label 0 (negative),
// 4 -> label 1 (positive); 2 (neutral, only in the test file) is malformed unless
// ReadOptions::include_neutral, then label 2. id must be a decimal integer.
//
// Text-line format (sentiment140_text_100k/negative.txt, positive.txt): one tweet per line,
// already UTF-8, kept byte for byte (a trailing CR is dropped). The file decides the label.
//
// Malformed records are skipped, counted, and the first few are kept with their line numbers;
// no input (arbitrary bytes, NUL, truncated files) crashes the reader or fails the read. Only
// I/O errors fail. Files are parsed from a memory map, split into line-aligned chunks parsed
// on several threads.
#ifndef MURMUR_DATA_SENTIMENT140_H_
#define MURMUR_DATA_SENTIMENT140_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/file.h"

namespace murmur::data {

// Class labels as stored in the token cache and batches.
enum Label : uint8_t { kNegative = 0, kPositive = 1, kNeutral = 2 };

// One record. `text` is UTF-8 and points into the Corpus that produced it.
struct Example {
  std::string_view text;
  uint64_t tweet_id = 0;  // 0 for text-line files, which have no ids
  uint32_t line = 0;      // 1-based line number in its source file
  uint8_t label = 0;      // a Label
  uint8_t source = 0;     // index into Corpus::sources()
};

struct MalformedRecord {
  std::string source;  // file path (or the name given for an in-memory buffer)
  uint64_t line = 0;   // 1-based
  std::string reason;  // e.g. "expected 6 fields, found 5"
};

struct ReadReport {
  uint64_t lines = 0;      // records looked at (non-empty or empty lines alike)
  uint64_t examples = 0;   // records accepted
  uint64_t malformed = 0;  // records skipped
  // The first ReadOptions::max_malformed_examples skipped records, in file order.
  std::vector<MalformedRecord> malformed_examples;

  // "N malformed: file:line: reason; ..." for logs and the CLI.
  std::string MalformedSummary() const;
};

struct ReadOptions {
  // Accept target 2 (neutral) as label 2. Default false: training data is binary, and a 2 in
  // it means a wrong file (the test set) was passed.
  bool include_neutral = false;
  // How many malformed records to keep with line numbers. Default 20.
  int max_malformed_examples = 20;
  // Parser threads; 0 = std::thread::hardware_concurrency(). Default 0.
  int num_threads = 0;
};

// Examples read from one or more files, and the memory they point into. Owns the memory maps
// and the decoded texts; every Example::text stays valid while the Corpus lives. Immutable
// after reading, so safe to share between threads. Move-only.
class Corpus {
 public:
  Corpus() = default;
  Corpus(Corpus&&) = default;
  Corpus& operator=(Corpus&&) = default;
  Corpus(const Corpus&) = delete;
  Corpus& operator=(const Corpus&) = delete;

  const std::vector<Example>& examples() const { return examples_; }
  const ReadReport& report() const { return report_; }
  // Source names; Example::source indexes this.
  const std::vector<std::string>& sources() const { return sources_; }

 private:
  friend class CorpusBuilder;
  std::vector<Example> examples_;
  ReadReport report_;
  std::vector<std::string> sources_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<std::unique_ptr<std::string>> buffers_;  // in-memory inputs (stable addresses)
  std::vector<std::vector<char>> arenas_;   // decoded texts (vector: moves keep the buffer)
};

// Reads a Sentiment140 CSV file.
absl::StatusOr<Corpus> ReadSentiment140Csv(const std::string& path,
                                           const ReadOptions& options = {});
// The same from bytes in memory; `name` stands for the path in reports. Takes the bytes.
Corpus ParseSentiment140Csv(std::string contents, const std::string& name,
                            const ReadOptions& options = {});

// Reads one-text-per-line files: every line of `negative_path` gets label 0, of
// `positive_path` label 1. Empty lines are malformed.
absl::StatusOr<Corpus> ReadTextLines(const std::string& negative_path,
                                     const std::string& positive_path,
                                     const ReadOptions& options = {});

// The files a corpus path stands for: a directory means DIR/negative.txt and DIR/positive.txt
// (text-line format), anything else one CSV file. Fails NOT_FOUND / INVALID_ARGUMENT naming
// the missing file.
struct CorpusSources {
  bool is_csv = true;
  std::vector<std::string> files;  // csv: {path}; text lines: {negative, positive}
};
absl::StatusOr<CorpusSources> ResolveCorpusSources(const std::string& path);

// Reads whatever ResolveCorpusSources(path) names.
absl::StatusOr<Corpus> ReadCorpus(const std::string& path, const ReadOptions& options = {});

}  // namespace murmur::data

#endif  // MURMUR_DATA_SENTIMENT140_H_
