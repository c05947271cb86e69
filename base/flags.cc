#include "base/flags.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace murmur {

void FlagParser::Add(const std::string& name, Kind kind, void* target, const std::string& help,
                     bool required, std::string default_text) {
  flags_.push_back(Flag{name, kind, target, help, required, false, std::move(default_text)});
}

void FlagParser::String(const std::string& name, std::string* value, const std::string& help,
                        bool required) {
  Add(name, Kind::kString, value, help, required, *value);
}
void FlagParser::Int(const std::string& name, int64_t* value, const std::string& help,
                     bool required) {
  Add(name, Kind::kInt64, value, help, required, absl::StrCat(*value));
}
void FlagParser::Int(const std::string& name, int* value, const std::string& help,
                     bool required) {
  Add(name, Kind::kInt, value, help, required, absl::StrCat(*value));
}
void FlagParser::Double(const std::string& name, double* value, const std::string& help,
                        bool required) {
  Add(name, Kind::kDouble, value, help, required, absl::StrCat(*value));
}
void FlagParser::Bool(const std::string& name, bool* value, const std::string& help) {
  Add(name, Kind::kBool, value, help, false, *value ? "true" : "false");
}
void FlagParser::Repeated(const std::string& name, std::vector<std::string>* values,
                          const std::string& help) {
  Add(name, Kind::kRepeated, values, help, false, "");
}

absl::Status FlagParser::Assign(Flag& flag, const std::string& value) {
  auto bad = [&](const char* what) {
    return absl::InvalidArgumentError(
        absl::StrCat(program_, ": --", flag.name, " expects ", what, ", got '", value, "'"));
  };
  flag.seen = true;
  switch (flag.kind) {
    case Kind::kString:
      *static_cast<std::string*>(flag.target) = value;
      return absl::OkStatus();
    case Kind::kRepeated:
      static_cast<std::vector<std::string>*>(flag.target)->push_back(value);
      return absl::OkStatus();
    case Kind::kInt64:
      if (!absl::SimpleAtoi(value, static_cast<int64_t*>(flag.target))) return bad("an integer");
      return absl::OkStatus();
    case Kind::kInt:
      if (!absl::SimpleAtoi(value, static_cast<int*>(flag.target))) return bad("an integer");
      return absl::OkStatus();
    case Kind::kDouble:
      if (!absl::SimpleAtod(value, static_cast<double*>(flag.target))) return bad("a number");
      return absl::OkStatus();
    case Kind::kBool:
      if (value == "true" || value == "1") {
        *static_cast<bool*>(flag.target) = true;
      } else if (value == "false" || value == "0") {
        *static_cast<bool*>(flag.target) = false;
      } else {
        return bad("true or false");
      }
      return absl::OkStatus();
  }
  return absl::InternalError("unknown flag kind");
}

absl::Status FlagParser::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positional_.insert(positional_.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg.size() < 3 || arg[0] != '-' || arg[1] != '-') {
      if (arg == "-h") {
        help_requested_ = true;
        continue;
      }
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (name == "help") {
      help_requested_ = true;
      continue;
    }
    Flag* flag = nullptr;
    bool negated = false;
    for (Flag& f : flags_) {
      if (f.name == name) flag = &f;
      if (f.kind == Kind::kBool && "no-" + f.name == name) {
        flag = &f;
        negated = true;
      }
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(program_, ": unknown flag --", name, "\n", Usage()));
    }
    if (flag->kind == Kind::kBool && !has_value) {
      value = negated ? "false" : "true";
    } else if (!has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat(program_, ": flag --", name, " needs a value"));
      }
      value = args[++i];
    }
    if (absl::Status status = Assign(*flag, value); !status.ok()) return status;
  }
  if (help_requested_) return absl::OkStatus();
  for (const Flag& flag : flags_) {
    if (flag.required && !flag.seen) {
      return absl::InvalidArgumentError(
          absl::StrCat(program_, ": missing required flag --", flag.name, "\n", Usage()));
    }
  }
  return absl::OkStatus();
}

std::optional<int> FlagParser::ParseOrExitCode(const std::vector<std::string>& args) {
  const absl::Status status = Parse(args);
  if (help_requested_) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
    return 2;
  }
  return std::nullopt;
}

void FlagParser::ParseOrExit(int argc, char** argv) {
  if (auto code = ParseOrExitCode(std::vector<std::string>(argv + 1, argv + argc))) {
    std::fflush(stdout);
    std::exit(*code);
  }
}

std::string FlagParser::Usage() const {
  std::string usage = absl::StrCat("usage: ", program_, " [flags]\n");
  for (const Flag& flag : flags_) {
    absl::StrAppend(&usage, "  --", flag.name, "  ", flag.help);
    if (flag.required) {
      absl::StrAppend(&usage, " (required)");
    } else if (!flag.default_text.empty()) {
      absl::StrAppend(&usage, " (default: ", flag.default_text, ")");
    }
    absl::StrAppend(&usage, "\n");
  }
  return usage;
}

}  // namespace murmur
