#include "data/corpus_generator.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/random.h"
#include "data/latin1.h"
#include "data/sentiment140.h"

namespace murmur::data {
namespace {

// The original's first id and date, and its id/second ratio (ids 1467810369..2193602129 span
// Apr 06 22:19:45 .. Jun 16 08:40:49 PDT 2009).
constexpr uint64_t kFirstId = 1467810369;
constexpr double kSecondsPerId = 6085264.0 / 725791760.0;
constexpr uint64_t kIdStride = 450;  // ids per row of the interleaved sequence

constexpr const char* kHashtags[] = {"#fail",  "#followfriday", "#iranelection", "#musicmonday",
                                     "#fb",    "#squarespace",  "#tweetdeck",    "#lost",
                                     "#twitter", "#iphone",     "#summer",       "#mcfly",
                                     "#tcot",  "#spymaster",    "#haiku",        "#moonfruit"};
constexpr const char* kEndings[] = {"!", "!!", "!!!", "...", "?", " ..", ".", " lol", " haha"};
// Latin-1 words and bytes as they occur in the original (accents, currency, inverted marks).
constexpr const char* kLatin1Words[] = {"caf\xe9", "na\xefve", "\xbfqu\xe9?", "\xa1s\xed!",
                                        "\xa3" "5", "se\xf1or", "M\xfcnchen", "\xe0 la mode",
                                        "\xa9", "\xb0" "C", "d\xe9j\xe0 vu", "\xbd"};

}  // namespace

std::string FormatSentiment140Date(uint64_t seconds) {
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // Local PDT seconds since 2009-04-06 00:00:00, then a civil date from days since
  // 1970-01-01 (Howard Hinnant's civil_from_days).
  const uint64_t local = seconds + 22 * 3600 + 19 * 60 + 45;
  const int64_t days = 14340 + static_cast<int64_t>(local / 86400);  // 14340 = 2009-04-06
  const uint64_t in_day = local % 86400;
  const int64_t z = days + 719468;
  const int64_t era = z / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const int weekday = static_cast<int>((days + 4) % 7);  // 1970-01-01 was a Thursday
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%s %s %02d %02d:%02d:%02d PDT %04d", kDays[weekday],
                kMonths[month - 1], static_cast<int>(day), static_cast<int>(in_day / 3600),
                static_cast<int>(in_day / 60 % 60), static_cast<int>(in_day % 60),
                static_cast<int>(year));
  return buffer;
}

namespace {

bool IsUserChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::vector<std::string_view> SplitWords(std::string_view text) {
  std::vector<std::string_view> words;
  size_t start = 0;
  while (start <= text.size()) {
    size_t space = text.find(' ', start);
    if (space == std::string_view::npos) space = text.size();
    if (space > start) words.push_back(text.substr(start, space - start));
    start = space + 1;
  }
  return words;
}

std::string JoinWords(const std::vector<std::string_view>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out.push_back(' ');
    out.append(words[i].data(), words[i].size());
  }
  return out;
}

void AppendQuotedField(std::string_view field, std::string* out) {
  out->push_back('"');
  for (char c : field) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

// Recent texts of one label, for exact duplicates.
class History {
 public:
  void Add(const std::string& text) {
    if (ring_.size() < kSize) {
      ring_.push_back(text);
    } else {
      ring_[next_++ % kSize] = text;
    }
  }
  bool empty() const { return ring_.empty(); }
  const std::string& Pick(Rng& rng) const { return ring_[rng.Uniform(ring_.size())]; }

 private:
  static constexpr size_t kSize = 1024;
  std::vector<std::string> ring_;
  size_t next_ = 0;
};

}  // namespace

CorpusGenerator::CorpusGenerator(std::vector<std::string> negative,
                                 std::vector<std::string> positive) {
  texts_[0] = std::move(negative);
  texts_[1] = std::move(positive);
  // Real user names: the accounts the source tweets mention.
  for (const auto& texts : texts_) {
    for (const std::string& text : texts) {
      for (size_t at = text.find('@'); at != std::string::npos; at = text.find('@', at + 1)) {
        size_t end = at + 1;
        while (end < text.size() && IsUserChar(text[end])) ++end;
        if (end - at - 1 >= 2 && end - at - 1 <= 15) users_.push_back(text.substr(at + 1, end - at - 1));
      }
    }
  }
  std::sort(users_.begin(), users_.end());
  users_.erase(std::unique(users_.begin(), users_.end()), users_.end());
  if (users_.empty()) users_.push_back("murmur_user");
}

std::string CorpusGenerator::Generate(const CorpusGeneratorOptions& options,
                                      CorpusGeneratorReport* report) const {
  *report = CorpusGeneratorReport();
  std::string out;
  out.reserve(options.rows * 150);
  const uint64_t half[2] = {options.rows / 2, options.rows - options.rows / 2};
  Rng id_rng(MixSeed(options.seed, 0x1d5));
  for (int label = 0; label < 2; ++label) {
    const std::vector<std::string>& pool = texts_[label];
    const std::vector<std::string>& other = texts_[1 - label];
    Rng rng(MixSeed(options.seed, static_cast<uint64_t>(label)));
    History history;
    std::string text;
    for (uint64_t k = 0; k < half[label]; ++k) {
      if (k < pool.size()) {
        text = pool[k];
        ++report->source_rows;
      } else {
        const double mode = rng.UniformDouble();
        if (mode < options.conflict_fraction) {
          // A source text of the other label: the other half emits it unchanged as well.
          text = other[rng.Uniform(other.size())];
          ++report->conflict_rows;
        } else if (mode < options.conflict_fraction + options.duplicate_fraction &&
                   !history.empty()) {
          text = history.Pick(rng);
          ++report->duplicate_rows;
        } else {
          const std::string& a = pool[rng.Uniform(pool.size())];
          std::vector<std::string_view> words = SplitWords(a);
          bool changed = false;
          if (rng.Bernoulli(0.55) || words.empty()) {
            const std::vector<std::string_view> b = SplitWords(pool[rng.Uniform(pool.size())]);
            const size_t keep = words.empty() ? 0 : 1 + rng.Uniform(words.size());
            words.resize(keep);
            if (!b.empty()) {
              const size_t from = rng.Uniform(b.size());
              words.insert(words.end(), b.begin() + from, b.end());
            }
            changed = true;
          }
          if (rng.Bernoulli(0.25) || (!changed && rng.Bernoulli(0.3))) {
            const std::string tag = "@" + users_[rng.Uniform(users_.size())];
            auto mention = std::find_if(words.begin(), words.end(), [](std::string_view w) {
              return w.size() > 1 && w[0] == '@';
            });
            if (mention != words.end()) {
              *mention = tag;  // `tag` outlives the join below
              text = JoinWords(words);
            } else {
              text = absl::StrCat(tag, " ", JoinWords(words));
            }
            changed = true;
          } else {
            text = JoinWords(words);
          }
          if (rng.Bernoulli(0.08)) {
            for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          } else if (rng.Bernoulli(0.03)) {
            for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          }
          if (rng.Bernoulli(0.15) || (!changed && rng.Bernoulli(0.5))) {
            while (!text.empty() && std::ispunct(static_cast<unsigned char>(text.back())) &&
                   text.back() != '"') {
              text.pop_back();
            }
            text += kEndings[rng.Uniform(std::size(kEndings))];
            changed = true;
          }
          if (rng.Bernoulli(0.12) || !changed || text.empty()) {
            absl::StrAppend(&text, " ", kHashtags[rng.Uniform(std::size(kHashtags))]);
          }
          if (rng.Bernoulli(options.latin1_fraction)) {
            if (rng.Bernoulli(0.5)) {
              absl::StrAppend(&text, " ", kLatin1Words[rng.Uniform(std::size(kLatin1Words))]);
            } else {
              text.insert(rng.Uniform(text.size() + 1), 1,
                          static_cast<char>(0x80 + rng.Uniform(0x80)));
            }
            ++report->latin1_rows;
          }
          if (rng.Bernoulli(options.quote_fraction)) {
            std::vector<std::string_view> parts = SplitWords(text);
            if (!parts.empty()) {
              const size_t i = rng.Uniform(parts.size());
              std::string quoted = absl::StrCat("\"", std::string(parts[i]), "\"");
              parts[i] = quoted;
              text = JoinWords(parts);
              ++report->quoted_rows;
            }
          }
        }
      }
      // Ids: one ascending sequence shared by both halves, negatives on even and positives on
      // odd slots, so ids never collide and both halves span the same dates.
      const uint64_t slot = 2 * k + static_cast<uint64_t>(label);
      const uint64_t id = kFirstId + slot * kIdStride + id_rng.Uniform(kIdStride);
      const uint64_t seconds = static_cast<uint64_t>((id - kFirstId) * kSecondsPerId);
      if (!out.empty()) out.push_back('\n');
      absl::StrAppend(&out, label == 0 ? "\"0\",\"" : "\"4\",\"", id, "\",\"",
                      FormatSentiment140Date(seconds), "\",\"NO_QUERY\",\"",
                      users_[rng.Uniform(users_.size())], "\",");
      AppendQuotedField(text, &out);
      if (k >= pool.size()) history.Add(text);
      ++report->rows;
      ++(label == 0 ? report->negative_rows : report->positive_rows);
    }
  }
  report->bytes = out.size();
  return out;
}

absl::StatusOr<CorpusGeneratorReport> GenerateCorpusFile(const std::string& source_path,
                                                         const std::string& out_path,
                                                         const CorpusGeneratorOptions& options) {
  auto corpus = ReadCorpus(source_path);
  if (!corpus.ok()) return corpus.status();
  std::vector<std::string> texts[2];
  for (const Example& example : corpus->examples()) {
    if (example.label > 1) continue;
    // Back to the bytes the CSV holds: the reader decoded latin-1, the text files hold UTF-8.
    texts[example.label].push_back(Utf8ToLatin1(example.text));
  }
  if (texts[0].empty() || texts[1].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "corpus source ", source_path, " needs negative and positive tweets; found ",
        texts[0].size(), " and ", texts[1].size()));
  }
  CorpusGenerator generator(std::move(texts[0]), std::move(texts[1]));
  CorpusGeneratorReport report;
  std::string csv = generator.Generate(options, &report);
  if (auto status = WriteFileAtomically(out_path, csv); !status.ok()) return status;
  return report;
}

}  // namespace murmur::data
