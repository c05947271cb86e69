// Data preparation commands:
//   murmur corpus generate --from DIR --rows N --seed S --out FILE.csv
//   murmur ingest --data PATH --vocab FILE --cache FILE [--max-len 128]
//                 [--validation-fraction 0.2] [--seed 42] [--include-neutral] [--threads N]
//                 [--force]
#include <algorithm>
#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file.h"
#include "base/flags.h"
#include "client/commands.h"
#include "data/cleaning.h"
#include "data/corpus_generator.h"
#include "data/ingest.h"
#include "data/split.h"
#include "data/synthetic_corpus.h"
#include "text/tokenizer.h"

namespace murmur::client {

// murmur corpus synthesize --rows N [--seed S] --out DIR: template tweets for machines
// without the real data.
int SynthesizeCorpus(const CommandArgs& args) {
  FlagParser flags("murmur corpus synthesize");
  int rows = 20000;
  int64_t seed = 42;
  std::string out;
  flags.Int("rows", &rows, "texts to write (half of each label)");
  flags.Int("seed", &seed, "generator seed");
  flags.String("out", &out, "directory for negative.txt and positive.txt", /*required=*/true);
  if (auto exit_code = flags.ParseOrExitCode(args)) return *exit_code;
  absl::Status status = data::WriteSyntheticCorpus(out, std::max(1, rows / 2),
                                                   static_cast<uint64_t>(seed));
  if (!status.ok()) {
    std::cerr << "murmur corpus synthesize: " << status.message() << "\n";
    return 1;
  }
  std::cout << "wrote " << rows << " synthetic texts to " << out << "\n";
  return 0;
}

int CorpusCommand(const CommandArgs& args) {
  if (!args.empty() && args[0] == "synthesize") {
    return SynthesizeCorpus(CommandArgs(args.begin() + 1, args.end()));
  }
  if (args.empty() || args[0] != "generate") {
    std::cerr << "usage: murmur corpus generate --from DIR --rows N --seed S --out FILE.csv\n"
                 "       murmur corpus synthesize --rows N [--seed S] --out DIR\n";
    return 2;
  }
  FlagParser flags("murmur corpus generate");
  std::string from, out;
  data::CorpusGeneratorOptions options;
  int64_t rows = static_cast<int64_t>(options.rows);
  int64_t seed = static_cast<int64_t>(options.seed);
  flags.String("from", &from,
               "source tweets: a directory with negative.txt/positive.txt, or a Sentiment140 CSV",
               /*required=*/true);
  flags.Int("rows", &rows, "rows to write");
  flags.Int("seed", &seed, "generator seed (same seed, same file)");
  flags.String("out", &out, "the CSV to write (atomically)", /*required=*/true);
  flags.Double("duplicate-fraction", &options.duplicate_fraction,
               "share of recombined rows repeating a recent text");
  flags.Double("conflict-fraction", &options.conflict_fraction,
               "share of recombined rows repeating a text of the other label");
  if (auto exit_code = flags.ParseOrExitCode(CommandArgs(args.begin() + 1, args.end()))) {
    return *exit_code;
  }
  if (rows < 0 || seed < 0) {
    std::cerr << "murmur corpus generate: --rows and --seed must not be negative\n";
    return 2;
  }
  options.rows = static_cast<uint64_t>(rows);
  options.seed = static_cast<uint64_t>(seed);
  const auto start = std::chrono::steady_clock::now();
  auto report = data::GenerateCorpusFile(from, out, options);
  if (!report.ok()) {
    std::cerr << "murmur corpus generate: " << report.status().message() << "\n";
    return 1;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << absl::StrFormat(
      "wrote %s: %d rows (%d negative, %d positive), %.1f MB in %.2f s\n"
      "  %d source texts unchanged, %d exact duplicates, %d conflicting-label repeats,\n"
      "  %d rows with latin-1 bytes, %d rows with quoted words\n",
      out, report->rows, report->negative_rows, report->positive_rows, report->bytes / 1e6,
      seconds, report->source_rows, report->duplicate_rows, report->conflict_rows,
      report->latin1_rows, report->quoted_rows);
  return 0;
}

// murmur split --data PATH --out DIR: the cleaned corpus as DIR/train.tsv and
// DIR/validation.tsv ("label<TAB>text"), split exactly as training splits it, so that baselines
// (benchmarks) train and score on the same rows.
int SplitCommand(const CommandArgs& args) {
  FlagParser flags("murmur split");
  std::string data_path, out;
  data::SplitOptions split;
  int64_t seed = static_cast<int64_t>(split.seed);
  flags.String("data", &data_path, "Sentiment140 CSV or a directory with negative/positive.txt",
               /*required=*/true);
  flags.String("out", &out, "directory for train.tsv and validation.tsv", /*required=*/true);
  flags.Double("validation-fraction", &split.validation_fraction, "share of rows in validation");
  flags.Int("seed", &seed, "split seed");
  if (auto exit_code = flags.ParseOrExitCode(args)) return *exit_code;
  split.seed = static_cast<uint64_t>(seed);
  auto corpus = data::ReadCorpus(data_path);
  if (!corpus.ok()) {
    std::cerr << "murmur split: " << corpus.status().message() << "\n";
    return 1;
  }
  const auto& examples = corpus->examples();
  data::CleanResult cleaned = data::CleanExamples(examples);
  std::vector<uint8_t> validation = data::SplitRows(examples, cleaned.kept, split);
  std::string train_tsv, validation_tsv;
  for (size_t i = 0; i < cleaned.kept.size(); ++i) {
    const data::Example& example = examples[cleaned.kept[i]];
    std::string text(example.text);
    std::replace(text.begin(), text.end(), '\t', ' ');
    std::replace(text.begin(), text.end(), '\n', ' ');
    absl::StrAppend(validation[i] ? &validation_tsv : &train_tsv,
                    static_cast<int>(example.label), "\t", text, "\n");
  }
  absl::Status status = MakeDirectories(out);
  if (status.ok()) status = WriteFileAtomically(out + "/train.tsv", train_tsv);
  if (status.ok()) status = WriteFileAtomically(out + "/validation.tsv", validation_tsv);
  if (!status.ok()) {
    std::cerr << "murmur split: " << status.message() << "\n";
    return 1;
  }
  std::cout << "train " << std::count(validation.begin(), validation.end(), 0) << " rows, validation "
            << std::count(validation.begin(), validation.end(), 1) << " rows in " << out << "\n";
  return 0;
}

int IngestCommand(const CommandArgs& args) {
  FlagParser flags("murmur ingest");
  std::string data_path, vocab_path, cache_path;
  data::IngestOptions options;
  int64_t seed = static_cast<int64_t>(options.split.seed);
  flags.String("data", &data_path,
               "a Sentiment140 CSV, or a directory with negative.txt/positive.txt",
               /*required=*/true);
  flags.String("vocab", &vocab_path, "WordPiece vocab.txt", /*required=*/true);
  flags.String("cache", &cache_path, "token cache to write (reused when fresh)",
               /*required=*/true);
  flags.Int("max-len", &options.max_length, "max ids per row, [CLS] and [SEP] included");
  flags.Double("validation-fraction", &options.split.validation_fraction,
               "share of texts held out for validation");
  flags.Int("seed", &seed, "split seed");
  flags.Bool("include-neutral", &options.read.include_neutral,
             "accept target 2 (neutral) as a third class instead of rejecting it");
  flags.Int("threads", &options.num_threads, "parse/tokenize threads (0: all cores)");
  flags.Bool("force", &options.force_rebuild, "rebuild even when the cache is fresh");
  if (auto exit_code = flags.ParseOrExitCode(args)) return *exit_code;
  if (seed < 0) {
    std::cerr << "murmur ingest: --seed must not be negative\n";
    return 2;
  }
  options.split.seed = static_cast<uint64_t>(seed);
  auto tokenizer = text::Tokenizer::FromVocabFile(vocab_path);
  if (!tokenizer.ok()) {
    std::cerr << "murmur ingest: " << tokenizer.status().message() << "\n";
    return 1;
  }
  auto report = data::Ingest(data_path, **tokenizer, cache_path, options);
  if (!report.ok()) {
    std::cerr << "murmur ingest: " << report.status().message() << "\n";
    return report.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::cout << "cache: " << cache_path << "\n" << report->ToString();
  return 0;
}

}  // namespace murmur::client
