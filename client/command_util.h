// Shared plumbing for subcommands: flag parsing with the standard help/usage exit codes.
#ifndef MURMUR_CLIENT_COMMAND_UTIL_H_
#define MURMUR_CLIENT_COMMAND_UTIL_H_

#include <optional>

#include "base/flags.h"
#include "client/commands.h"

namespace murmur::client {

// Parses `args` into `flags`. Returns an exit code when the command should stop now (0 after
// printing --help, 2 after printing a usage error), nullopt to go on.
std::optional<int> ParseOrExit(FlagParser& flags, const CommandArgs& args);

}  // namespace murmur::client

#endif  // MURMUR_CLIENT_COMMAND_UTIL_H_
