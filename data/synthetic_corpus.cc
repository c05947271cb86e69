#include "data/synthetic_corpus.h"

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/random.h"

namespace murmur::data {
namespace {

const std::vector<std::string> kSubjects = {
    "my day", "this weather", "the new phone", "work today", "the game last night",
    "this song", "my flight", "the coffee here", "school", "the movie", "my weekend",
    "the traffic", "dinner", "this update", "the concert", "my exam", "the beach", "monday"};
const std::vector<std::string> kPositive = {
    "is amazing", "made me so happy", "was the best", "is awesome", "feels great",
    "was so much fun", "is lovely", "made my day", "is perfect", "rocks", "is wonderful",
    "was fantastic", "love it", "so good"};
const std::vector<std::string> kNegative = {
    "is terrible", "made me so sad", "was the worst", "is awful", "feels horrible",
    "was so boring", "is a disaster", "ruined my day", "sucks", "is broken", "hurts",
    "was miserable", "hate it", "so bad"};
const std::vector<std::string> kFillers = {
    "", "", "lol", "omg", "honestly", "again", "tbh", "right now", "today", "ugh", "haha"};
const std::vector<std::string> kPositiveTails = {"", ":)", "!!", "#happy", "<3", "yay"};
const std::vector<std::string> kNegativeTails = {"", ":(", "...", "#fail", "smh", "why"};

const std::string& Pick(Rng& rng, const std::vector<std::string>& words) {
  return words[rng.Uniform(words.size())];
}

std::string Text(Rng& rng, bool positive) {
  const auto& phrases = positive ? kPositive : kNegative;
  const auto& tails = positive ? kPositiveTails : kNegativeTails;
  std::string text;
  if (rng.Bernoulli(0.3)) absl::StrAppend(&text, "@user", rng.Uniform(1000), " ");
  absl::StrAppend(&text, Pick(rng, kSubjects), " ", Pick(rng, phrases));
  if (rng.Bernoulli(0.4)) absl::StrAppend(&text, " and ", Pick(rng, phrases));
  const std::string& filler = Pick(rng, kFillers);
  if (!filler.empty()) absl::StrAppend(&text, " ", filler);
  const std::string& tail = Pick(rng, tails);
  if (!tail.empty()) absl::StrAppend(&text, " ", tail);
  return text;
}

}  // namespace

SyntheticTexts SynthesizeTexts(int per_class, uint64_t seed) {
  Rng rng(seed);
  SyntheticTexts texts;
  for (int i = 0; i < per_class; ++i) {
    texts.negative.push_back(Text(rng, false));
    texts.positive.push_back(Text(rng, true));
  }
  return texts;
}

absl::Status WriteSyntheticCorpus(const std::string& dir, int per_class, uint64_t seed) {
  if (per_class <= 0) return absl::InvalidArgumentError("per_class must be positive");
  if (auto status = MakeDirectories(dir); !status.ok()) return status;
  SyntheticTexts texts = SynthesizeTexts(per_class, seed);
  for (const auto& [name, lines] : {std::make_pair("negative.txt", &texts.negative),
                                    std::make_pair("positive.txt", &texts.positive)}) {
    std::string contents;
    for (const std::string& line : *lines) absl::StrAppend(&contents, line, "\n");
    if (auto status = WriteFileAtomically(absl::StrCat(dir, "/", name), contents); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

}  // namespace murmur::data
