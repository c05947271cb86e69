// Reference outputs from Hugging Face's own tokenizer (the npm package `tokenizers`, the Rust
// core's Node binding), for murmur's parity tests and benchmarks.
//
//   node hf_reference.js TOKENIZER_JSON ids INPUT OUTPUT
//       INPUT: UTF-8 texts, one per line. OUTPUT: the ids of each ([CLS] .. [SEP]), one line each.
//   node hf_reference.js TOKENIZER_JSON codepoints OUTPUT
//       For every Unicode scalar value c: "hex(c) TAB normalized(c) TAB pretokenized(a c b)",
//       code points in hex separated by spaces, pre-tokenizer words separated by 7c ('|').
//   node hf_reference.js TOKENIZER_JSON bench INPUT REPEATS
//       Prints "hf_tweets_per_s=<median>" for encodeBatch over the texts of INPUT.
// The module is found through NODE_PATH (deploy/setup.sh installs it).
'use strict';
const fs = require('fs');
const {Tokenizer, bertNormalizer, bertPreTokenizer} = require('tokenizers');

function readLines(path) {
  const lines = fs.readFileSync(path, 'utf8').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function hex(text) {
  return Array.from(text, (c) => c.codePointAt(0).toString(16)).join(' ');
}

async function main() {
  const [tokenizerJson, mode, ...rest] = process.argv.slice(2);
  if (mode === 'ids') {
    const tokenizer = Tokenizer.fromFile(tokenizerJson);
    const encodings = await tokenizer.encodeBatch(readLines(rest[0]));
    fs.writeFileSync(rest[1], encodings.map((e) => e.getIds().join(' ')).join('\n') + '\n');
  } else if (mode === 'codepoints') {
    const config = JSON.parse(fs.readFileSync(tokenizerJson, 'utf8')).normalizer;
    const normalizer = bertNormalizer({
      cleanText: config.clean_text,
      handleChineseChars: config.handle_chinese_chars,
      lowercase: config.lowercase,
    });
    const preTokenizer = bertPreTokenizer();
    const lines = [];
    for (let c = 0; c <= 0x10ffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const s = String.fromCodePoint(c);
      const normalized = normalizer.normalizeString(s);
      const words = preTokenizer.preTokenizeString('a' + normalized + 'b').map((w) => w[0]);
      lines.push(c.toString(16) + '\t' + hex(normalized) + '\t' + hex(words.join('|')));
    }
    fs.writeFileSync(rest[0], lines.join('\n') + '\n');
  } else if (mode === 'bench') {
    const tokenizer = Tokenizer.fromFile(tokenizerJson);
    const texts = readLines(rest[0]);
    const rates = [];
    for (let r = 0; r < Number(rest[1] || 3); r++) {
      const start = process.hrtime.bigint();
      const encodings = await tokenizer.encodeBatch(texts);
      let total = 0;
      for (const e of encodings) total += e.getIds().length;
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      rates.push(texts.length / seconds);
      if (total === 0) throw new Error('no ids');
    }
    rates.sort((a, b) => a - b);
    console.log('hf_tweets_per_s=' + rates[Math.floor(rates.length / 2)].toFixed(0));
  } else {
    console.error('unknown mode ' + mode);
    process.exit(2);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
