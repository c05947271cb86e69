// Command-line flags for murmur's programs: `--name value`, `--name=value`, boolean `--name`,
// repeated flags, and positional arguments. Unknown flags and missing values are errors, so a
// typo never silently falls back to a default.
//
// Usage:
//   FlagParser flags("murmur tokenize");
//   std::string vocab; int max_len = 0;
//   flags.String("vocab", &vocab, "vocab.txt path", /*required=*/true);
//   flags.Int("max-len", &max_len, "truncate to N ids (0: no limit)");
//   flags.ParseOrExit(argc, argv);  // or Parse(args) and handle the status
//
// Not thread-safe; the pointers given must outlive Parse.
#ifndef MURMUR_BASE_FLAGS_H_
#define MURMUR_BASE_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace murmur {

class FlagParser {
 public:
  explicit FlagParser(std::string program) : program_(std::move(program)) {}

  void String(const std::string& name, std::string* value, const std::string& help,
              bool required = false);
  void Int(const std::string& name, int64_t* value, const std::string& help,
           bool required = false);
  void Int(const std::string& name, int* value, const std::string& help, bool required = false);
  void Double(const std::string& name, double* value, const std::string& help,
              bool required = false);
  // `--name` sets true; `--name=false` / `--no-name` set false.
  void Bool(const std::string& name, bool* value, const std::string& help);
  // Every occurrence is appended.
  void Repeated(const std::string& name, std::vector<std::string>* values, const std::string& help);

  // Parses args (without the program or subcommand name). Positional arguments are collected in
  // positional(); `--` ends flag parsing. Returns INVALID_ARGUMENT with a message naming the flag.
  absl::Status Parse(const std::vector<std::string>& args);
  const std::vector<std::string>& positional() const { return positional_; }

  // Parse for a program or a subcommand, with the usual exits: returns 0 after printing the
  // usage for --help (stdout), 2 after printing the error (stderr), nullopt to go on.
  std::optional<int> ParseOrExitCode(const std::vector<std::string>& args);
  // For a program's main: ParseOrExitCode on argv[1..], exiting with that code when it has one.
  void ParseOrExit(int argc, char** argv);
  bool help_requested() const { return help_requested_; }

  // Usage text listing every flag with its help and default.
  std::string Usage() const;

 private:
  enum class Kind { kString, kInt64, kInt, kDouble, kBool, kRepeated };
  struct Flag {
    std::string name;
    Kind kind;
    void* target;
    std::string help;
    bool required;
    bool seen = false;
    std::string default_text;
  };
  void Add(const std::string& name, Kind kind, void* target, const std::string& help,
           bool required, std::string default_text);
  absl::Status Assign(Flag& flag, const std::string& value);

  std::string program_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
  bool help_requested_ = false;
};

}  // namespace murmur

#endif  // MURMUR_BASE_FLAGS_H_
