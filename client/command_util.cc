#include "client/command_util.h"

#include <iostream>

namespace murmur::client {

std::optional<int> ParseOrExit(FlagParser& flags, const CommandArgs& args) {
  absl::Status status = flags.Parse(args);
  if (flags.help_requested()) {
    std::cout << flags.Usage();
    return 0;
  }
  if (!status.ok()) {
    std::cerr << status.message() << "\n";
    return 2;
  }
  return std::nullopt;
}

}  // namespace murmur::client
