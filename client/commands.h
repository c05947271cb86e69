// The `murmur` subcommands. Each parses its own flags from `args` (everything after the
// subcommand name), writes results to stdout and errors to stderr, and returns an exit code:
// 0 success, 1 failure at run time, 2 bad usage.
#ifndef MURMUR_CLIENT_COMMANDS_H_
#define MURMUR_CLIENT_COMMANDS_H_

#include <string>
#include <vector>

namespace murmur::client {

using CommandArgs = std::vector<std::string>;

// murmur tokenize --vocab FILE [--max-len N]
int TokenizeCommand(const CommandArgs& args);
// murmur vocab build --corpus FILE... --size N --out FILE
int VocabCommand(const CommandArgs& args);
// murmur predict --model DIR [--batch N] [--bf16] [--threads N]
int PredictCommand(const CommandArgs& args);
// murmur corpus generate --from DIR --rows N --seed S --out FILE.csv
int CorpusCommand(const CommandArgs& args);
// murmur ingest --data PATH --vocab FILE --cache FILE [--max-len N] [--validation-fraction F]
//               [--seed S]
int IngestCommand(const CommandArgs& args);
// murmur split --data PATH --out DIR [--validation-fraction F] [--seed S]
int SplitCommand(const CommandArgs& args);
// murmur classify --target HOST:PORT [--target ...] [TEXT ...]  (texts on stdin otherwise)
int ClassifyCommand(const CommandArgs& args);
// murmur publish --target HOST:PORT --model DIR [--token-file F]
int PublishCommand(const CommandArgs& args);
// murmur bench serve --target HOST:PORT --concurrency C --duration S [--texts FILE]
int BenchCommand(const CommandArgs& args);
// murmur train --data PATH --vocab FILE --preset NAME --local-workers N --batch-per-worker B
//              [--max-steps S] [--epochs E] [--bf16] [--out DIR]
int TrainCommand(const CommandArgs& args);
// murmur status --coordinator HOST:PORT [--json]
int StatusCommand(const CommandArgs& args);
// murmur watch --coordinator HOST:PORT [--after N] [--until KIND]
int WatchCommand(const CommandArgs& args);
// murmur scale --coordinator HOST:PORT [--min N] [--max N]
int ScaleCommand(const CommandArgs& args);
// murmur drain --coordinator HOST:PORT --worker ID
int DrainCommand(const CommandArgs& args);

}  // namespace murmur::client

#endif  // MURMUR_CLIENT_COMMANDS_H_
