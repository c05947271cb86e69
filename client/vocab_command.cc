// murmur vocab build --corpus FILE [--corpus FILE ...] --size N --out FILE
#include <chrono>
#include <fstream>
#include <iostream>

#include "base/file.h"
#include "base/flags.h"
#include "client/commands.h"
#include "text/vocab_builder.h"

namespace murmur::client {

int VocabCommand(const CommandArgs& args) {
  if (args.empty() || args[0] != "build") {
    std::cerr << "usage: murmur vocab build --corpus FILE [--corpus FILE ...] --size N --out FILE\n";
    return 2;
  }
  FlagParser flags("murmur vocab build");
  std::vector<std::string> corpus;
  std::string out;
  text::VocabBuilderOptions options;
  int64_t min_frequency = options.min_frequency;
  flags.Repeated("corpus", &corpus, "text file, one text per line (repeatable)");
  flags.Int("size", &options.vocab_size, "vocabulary size, special tokens included");
  flags.Int("min-frequency", &min_frequency, "merge only pairs seen at least this often");
  flags.Int("limit-alphabet", &options.limit_alphabet, "keep the N most frequent characters");
  flags.String("out", &out, "where to write vocab.txt", /*required=*/true);
  if (auto exit_code = flags.ParseOrExitCode(CommandArgs(args.begin() + 1, args.end()))) {
    return *exit_code;
  }
  if (corpus.empty()) {
    std::cerr << "murmur vocab build: give at least one --corpus FILE\n";
    return 2;
  }
  options.min_frequency = min_frequency;
  auto builder = text::VocabBuilder::Create(options);
  if (!builder.ok()) {
    std::cerr << "murmur vocab build: " << builder.status().message() << "\n";
    return 2;
  }
  auto start = std::chrono::steady_clock::now();
  int64_t lines = 0;
  for (const std::string& path : corpus) {
    std::ifstream in(path);
    if (!in) {
      std::cerr << "murmur vocab build: cannot read " << path << "\n";
      return 1;
    }
    std::string line;
    while (std::getline(in, line)) {
      (*builder)->AddText(line);
      ++lines;
    }
  }
  auto vocab = (*builder)->Build();
  if (!vocab.ok()) {
    std::cerr << "murmur vocab build: " << vocab.status().message() << "\n";
    return 1;
  }
  if (absl::Status status = WriteFileAtomically(out, vocab->ToString()); !status.ok()) {
    std::cerr << "murmur vocab build: " << status.message() << "\n";
    return 1;
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "wrote " << out << ": " << vocab->size() << " tokens from " << lines
            << " texts (" << (*builder)->distinct_words() << " distinct words) in " << seconds
            << " s\n";
  return 0;
}

}  // namespace murmur::client
