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

}  // namespace murmur::client

#endif  // MURMUR_CLIENT_COMMANDS_H_
