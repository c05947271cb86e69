// `murmur`: the command line for tokenizing, data preparation, training, serving queries and
// operations. Thin: it picks the subcommand and hands over the remaining arguments.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "client/commands.h"

namespace {

struct Subcommand {
  const char* name;
  const char* summary;
  int (*run)(const murmur::client::CommandArgs&);
};

constexpr Subcommand kSubcommands[] = {
    {"tokenize", "print WordPiece ids of texts read from stdin",
     murmur::client::TokenizeCommand},
    {"vocab", "build a WordPiece vocabulary from a corpus (vocab build ...)",
     murmur::client::VocabCommand},
    {"predict", "classify texts read from stdin with a model directory",
     murmur::client::PredictCommand},
    {"corpus", "generate a Sentiment140-format corpus (corpus generate ...)",
     murmur::client::CorpusCommand},
    {"ingest", "read, clean, split and tokenize a corpus into a token cache",
     murmur::client::IngestCommand},
    {"split", "write the cleaned corpus's train/validation split as TSV (for baselines)",
     murmur::client::SplitCommand},
    {"classify", "classify texts with a murmur-serve server",
     murmur::client::ClassifyCommand},
    {"publish", "push a checkpoint directory to murmur-serve as a new version",
     murmur::client::PublishCommand},
    {"bench", "load generator (bench serve ...)", murmur::client::BenchCommand},
    {"train", "train on this machine: a coordinator and N local workers",
     murmur::client::TrainCommand},
    {"status", "a training job's status from its coordinator", murmur::client::StatusCommand},
    {"watch", "follow a training job's events", murmur::client::WatchCommand},
    {"scale", "set a training job's minimum/maximum workers", murmur::client::ScaleCommand},
    {"drain", "let a worker finish its step and leave the job", murmur::client::DrainCommand},
};

void PrintUsage(FILE* out) {
  std::fprintf(out, "usage: murmur <command> [flags]   (murmur <command> --help)\n\ncommands:\n");
  for (const Subcommand& command : kSubcommands) {
    std::fprintf(out, "  %-10s %s\n", command.name, command.summary);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const Subcommand& command : kSubcommands) {
    if (std::strcmp(argv[1], command.name) == 0) {
      return command.run(murmur::client::CommandArgs(argv + 2, argv + argc));
    }
  }
  std::fprintf(stderr, "murmur: unknown command '%s'\n", argv[1]);
  PrintUsage(stderr);
  return 2;
}
