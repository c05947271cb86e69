#include "data/sentiment140.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "data/latin1.h"

namespace murmur::data {

// Fills a Corpus; the friend that may touch its private members. Stateless (static functions);
// Parse runs its own worker threads and returns when they are done.
class CorpusBuilder {
 public:
  enum class Format { kCsv, kTextLines };

  // Parses `bytes` (which must stay alive as long as `corpus`) as source `name`.
  static void Parse(std::string_view bytes, const std::string& name, Format format,
                    uint8_t text_line_label, const ReadOptions& options, Corpus* corpus);

  static void AddFile(std::unique_ptr<MappedFile> file, Corpus* corpus) {
    corpus->files_.push_back(std::move(file));
  }
  static std::string_view AddBuffer(std::string contents, Corpus* corpus) {
    corpus->buffers_.push_back(std::make_unique<std::string>(std::move(contents)));
    return *corpus->buffers_.back();
  }
};

namespace {

// Everything one thread produces for its chunk; line numbers are local to the chunk until
// merged.
struct ChunkResult {
  std::vector<Example> examples;
  std::vector<char> arena;  // decoded texts of examples listed in arena_texts
  std::vector<std::pair<size_t, size_t>> arena_texts;  // (example index, arena offset)
  uint64_t lines = 0;
  uint64_t malformed = 0;
  std::vector<MalformedRecord> malformed_examples;
};

// Shows a field in an error message: at most 16 bytes, non-printable bytes as \xNN.
std::string Printable(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size() && i < 16; ++i) {
    const auto c = static_cast<unsigned char>(field[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (field.size() > 16) out += "...";
  return out;
}

struct Field {
  const char* begin = nullptr;
  const char* end = nullptr;
  bool escaped = false;  // holds `""` pairs to collapse
  std::string_view view() const { return std::string_view(begin, end - begin); }
};

// Splits one line (without its newline) into fields. Returns nullptr on success, else the
// reason. `count` is the number of fields seen; the first 6 are stored.
const char* SplitCsvLine(const char* p, const char* e, Field (&fields)[6], int* count) {
  *count = 0;
  while (true) {
    Field field;
    if (p < e && *p == '"') {
      const char* q = p + 1;
      while (true) {
        const auto* quote = static_cast<const char*>(std::memchr(q, '"', e - q));
        if (quote == nullptr) return "unterminated quote";
        if (quote + 1 < e && quote[1] == '"') {
          field.escaped = true;
          q = quote + 2;
          continue;
        }
        field.begin = p + 1;
        field.end = quote;
        p = quote + 1;
        break;
      }
      if (p < e && *p != ',') return "stray quote inside a quoted field";
    } else {
      const auto* comma = static_cast<const char*>(std::memchr(p, ',', e - p));
      const char* field_end = comma != nullptr ? comma : e;
      if (std::memchr(p, '"', field_end - p) != nullptr) return "quote inside an unquoted field";
      field.begin = p;
      field.end = field_end;
      p = field_end;
    }
    if (*count < 6) fields[*count] = field;
    ++*count;
    if (p == e) return nullptr;
    ++p;  // the comma
  }
}

class ChunkParser {
 public:
  ChunkParser(const ReadOptions& options, const std::string& name, uint8_t source,
              ChunkResult* out)
      : options_(options), name_(name), source_(source), out_(out) {}

  template <typename LineHandler>
  void ForEachLine(const char* begin, const char* end, LineHandler handle) {
    const char* p = begin;
    while (p < end) {
      const auto* newline = static_cast<const char*>(std::memchr(p, '\n', end - p));
      const char* line_end = newline != nullptr ? newline : end;
      const char* next = newline != nullptr ? newline + 1 : end;
      if (line_end > p && line_end[-1] == '\r') --line_end;
      ++out_->lines;
      handle(p, line_end, static_cast<uint32_t>(out_->lines));
      p = next;
    }
  }

  void Malformed(uint32_t line, std::string reason) {
    ++out_->malformed;
    if (static_cast<int>(out_->malformed_examples.size()) < options_.max_malformed_examples) {
      out_->malformed_examples.push_back(MalformedRecord{name_, line, std::move(reason)});
    }
  }

  void CsvLine(const char* p, const char* e, uint32_t line) {
    if (p == e) return Malformed(line, "empty line");
    Field fields[6];
    int count = 0;
    if (const char* error = SplitCsvLine(p, e, fields, &count)) return Malformed(line, error);
    if (count != 6) return Malformed(line, absl::StrCat("expected 6 fields, found ", count));

    const std::string_view target = fields[0].view();
    uint8_t label;
    if (target == "0") {
      label = kNegative;
    } else if (target == "4") {
      label = kPositive;
    } else if (target == "2" && options_.include_neutral) {
      label = kNeutral;
    } else if (target == "2") {
      return Malformed(line, "neutral label 2 (not accepted without include_neutral)");
    } else {
      return Malformed(line, absl::StrCat("unknown label '", Printable(target), "'"));
    }

    const std::string_view id_text = fields[1].view();
    uint64_t id = 0;
    bool id_ok = !id_text.empty() && id_text.size() <= 19;  // 19 digits always fit in uint64
    for (char c : id_text) {
      if (c < '0' || c > '9') {
        id_ok = false;
        break;
      }
      id = id * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!id_ok) return Malformed(line, absl::StrCat("id is not a number: '", Printable(id_text), "'"));

    Example example;
    example.tweet_id = id;
    example.line = line;
    example.label = label;
    example.source = source_;
    const Field& text = fields[5];
    if (text.escaped || HasHighBytes(text.view())) {
      AddDecoded(text, &example);
    } else {
      example.text = text.view();  // zero-copy: points into the mapped file
    }
    out_->examples.push_back(example);
  }

  void TextLine(const char* p, const char* e, uint32_t line, uint8_t label) {
    if (p == e) return Malformed(line, "empty line");
    Example example;
    example.text = std::string_view(p, e - p);
    example.line = line;
    example.label = label;
    example.source = source_;
    out_->examples.push_back(example);
  }

 private:
  // Collapses `""` and decodes latin-1 into the chunk's arena. The view is set after the chunk
  // is done (the arena may still grow).
  void AddDecoded(const Field& field, Example* example) {
    scratch_.clear();
    if (field.escaped) {
      std::string unescaped;
      unescaped.reserve(field.end - field.begin);
      for (const char* q = field.begin; q < field.end; ++q) {
        unescaped.push_back(*q);
        if (*q == '"') ++q;  // the split guarantees quotes come in pairs here
      }
      AppendLatin1AsUtf8(unescaped, &scratch_);
    } else {
      AppendLatin1AsUtf8(field.view(), &scratch_);
    }
    out_->arena_texts.emplace_back(out_->examples.size(), out_->arena.size());
    out_->arena.insert(out_->arena.end(), scratch_.begin(), scratch_.end());
    example->text = std::string_view(nullptr, scratch_.size());
  }

  const ReadOptions& options_;
  const std::string& name_;
  const uint8_t source_;
  ChunkResult* out_;
  std::string scratch_;
};

int ThreadCount(const ReadOptions& options, size_t bytes) {
  int threads = options.num_threads > 0 ? options.num_threads
                                        : static_cast<int>(std::thread::hardware_concurrency());
  // Below ~1 MB per thread, starting threads costs more than it saves.
  const int useful = static_cast<int>(std::min<size_t>(bytes / (1 << 20) + 1, 64));
  return std::max(1, std::min(threads, useful));
}

}  // namespace

void CorpusBuilder::Parse(std::string_view bytes, const std::string& name, Format format,
                          uint8_t text_line_label, const ReadOptions& options, Corpus* corpus) {
  const uint8_t source = static_cast<uint8_t>(corpus->sources_.size());
  corpus->sources_.push_back(name);

  // Line-aligned chunks: every chunk but the last ends just after a newline, so a chunk's
  // first line number is one plus the lines of the chunks before it.
  const int threads = ThreadCount(options, bytes.size());
  std::vector<size_t> bounds = {0};
  for (int k = 1; k < threads; ++k) {
    size_t at = std::max(bounds.back(), bytes.size() * k / threads);
    const void* newline = at < bytes.size() ? std::memchr(bytes.data() + at, '\n', bytes.size() - at)
                                            : nullptr;
    bounds.push_back(newline != nullptr
                         ? static_cast<const char*>(newline) - bytes.data() + 1
                         : bytes.size());
  }
  bounds.push_back(bytes.size());

  std::vector<ChunkResult> chunks(threads);
  auto parse_chunk = [&](int k) {
    ChunkResult& out = chunks[k];
    const char* begin = bytes.data() + bounds[k];
    const char* end = bytes.data() + bounds[k + 1];
    // ~75 bytes per record in Sentiment140; reserving avoids most regrowth.
    out.examples.reserve((end - begin) / 64 + 16);
    ChunkParser parser(options, name, source, &out);
    if (format == Format::kCsv) {
      parser.ForEachLine(begin, end, [&](const char* p, const char* e, uint32_t line) {
        parser.CsvLine(p, e, line);
      });
    } else {
      parser.ForEachLine(begin, end, [&](const char* p, const char* e, uint32_t line) {
        parser.TextLine(p, e, line, text_line_label);
      });
    }
    for (const auto& [index, offset] : out.arena_texts) {
      Example& example = out.examples[index];
      example.text = std::string_view(out.arena.data() + offset, example.text.size());
    }
  };
  std::vector<std::thread> workers;
  for (int k = 1; k < threads; ++k) workers.emplace_back(parse_chunk, k);
  parse_chunk(0);
  for (std::thread& worker : workers) worker.join();

  size_t total = 0;
  for (const ChunkResult& chunk : chunks) total += chunk.examples.size();
  corpus->examples_.reserve(corpus->examples_.size() + total);
  ReadReport& report = corpus->report_;
  uint64_t line_base = 0;
  for (ChunkResult& chunk : chunks) {
    for (Example example : chunk.examples) {
      example.line += static_cast<uint32_t>(line_base);
      corpus->examples_.push_back(example);
    }
    for (MalformedRecord& record : chunk.malformed_examples) {
      if (static_cast<int>(report.malformed_examples.size()) >= options.max_malformed_examples) {
        break;
      }
      record.line += line_base;
      report.malformed_examples.push_back(std::move(record));
    }
    report.lines += chunk.lines;
    report.examples += chunk.examples.size();
    report.malformed += chunk.malformed;
    line_base += chunk.lines;
    if (!chunk.arena.empty()) corpus->arenas_.push_back(std::move(chunk.arena));
    chunk.examples = {};  // free as we go: the merged copy is the one that lives on
  }
}

std::string ReadReport::MalformedSummary() const {
  std::string out = absl::StrCat(malformed, " malformed record", malformed == 1 ? "" : "s");
  if (malformed_examples.empty()) return out;
  absl::StrAppend(&out, malformed_examples.size() < malformed ? " (first " : " (",
                  malformed_examples.size(), " shown):");
  for (const MalformedRecord& record : malformed_examples) {
    absl::StrAppend(&out, "\n  ", record.source, ":", record.line, ": ", record.reason);
  }
  return out;
}

absl::StatusOr<Corpus> ReadSentiment140Csv(const std::string& path, const ReadOptions& options) {
  auto file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  Corpus corpus;
  const std::string_view bytes = (*file)->view();
  CorpusBuilder::AddFile(std::move(*file), &corpus);
  CorpusBuilder::Parse(bytes, path, CorpusBuilder::Format::kCsv, 0, options, &corpus);
  return corpus;
}

Corpus ParseSentiment140Csv(std::string contents, const std::string& name,
                            const ReadOptions& options) {
  Corpus corpus;
  const std::string_view bytes = CorpusBuilder::AddBuffer(std::move(contents), &corpus);
  CorpusBuilder::Parse(bytes, name, CorpusBuilder::Format::kCsv, 0, options, &corpus);
  return corpus;
}

absl::StatusOr<Corpus> ReadTextLines(const std::string& negative_path,
                                     const std::string& positive_path,
                                     const ReadOptions& options) {
  Corpus corpus;
  const std::pair<const std::string*, uint8_t> inputs[] = {{&negative_path, kNegative},
                                                           {&positive_path, kPositive}};
  for (const auto& [path, label] : inputs) {
    auto file = MappedFile::Open(*path);
    if (!file.ok()) return file.status();
    const std::string_view bytes = (*file)->view();
    CorpusBuilder::AddFile(std::move(*file), &corpus);
    CorpusBuilder::Parse(bytes, *path, CorpusBuilder::Format::kTextLines, label, options,
                         &corpus);
  }
  return corpus;
}

absl::StatusOr<CorpusSources> ResolveCorpusSources(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("corpus path ", path, " does not exist"));
  }
  CorpusSources sources;
  if (!S_ISDIR(st.st_mode)) {
    sources.files = {path};
    return sources;
  }
  sources.is_csv = false;
  for (const char* name : {"negative.txt", "positive.txt"}) {
    std::string file = absl::StrCat(path, "/", name);
    if (!PathExists(file)) {
      return absl::NotFoundError(absl::StrCat(
          "corpus directory ", path, " has no ", name,
          " (a directory must hold negative.txt and positive.txt, one tweet per line)"));
    }
    sources.files.push_back(std::move(file));
  }
  return sources;
}

absl::StatusOr<Corpus> ReadCorpus(const std::string& path, const ReadOptions& options) {
  auto sources = ResolveCorpusSources(path);
  if (!sources.ok()) return sources.status();
  if (sources->is_csv) return ReadSentiment140Csv(sources->files[0], options);
  return ReadTextLines(sources->files[0], sources->files[1], options);
}

}  // namespace murmur::data
