#!/usr/bin/env python3
"""Writes model/testdata/hf_transformers/ with Hugging Face transformers' own code.

transformers cannot be installed on the development and CI machines; the accelerator machine
(tool library `device`) has it. This script ran there: it builds a small random
DistilBertForSequenceClassification, saves it with save_pretrained (config.json and
model.safetensors exactly as transformers writes them), saves the tokenizer built from the
committed vocab.txt, and records for fixed texts the token ids transformers' tokenizer gives and
the probabilities transformers' model gives (eval mode, float32, padded batch with attention
mask). model/hf_transformers_test.cc checks murmur's tokenizer, Classifier and `murmur predict`
against these files.

Usage: make_hf_transformers_fixture.py --vocab model/testdata/hf_transformers_vocab.txt --out DIR
"""

import argparse
import json
import math
import os
import shutil
import sys

import torch
import transformers
from transformers import DistilBertConfig, DistilBertForSequenceClassification

TEXTS = [
    "I love this so much, best day ever!!",
    "ugh... my phone died again and I missed the bus",
    "",
    "@friend going to the beach tomorrow http://example.com #summer",
    "Worst. Service. Ever. Never going back to that place :(",
    "ok",
    "Just finished my exams - can't believe it's finally over, time to sleep for a week",
    "Café RÉSUMÉ naïve",
    "not bad, not good 42",
    "我爱 emoji \U0001F600 tabs\tand\nnewlines",
    "supercalifragilisticexpialidocious",
]


def make_tokenizer(vocab):
    """The tokenizer classes and their constructors changed between transformers versions (v5
    builds every tokenizer on `tokenizers`): try the ways in turn and keep the first whose
    vocabulary is the whole vocab.txt."""
    lines = [line.rstrip("\n") for line in open(vocab, encoding="utf-8")]
    # from_pretrained wants a folder holding vocab.txt.
    folder = "/tmp/hf_fixture_vocab"
    os.makedirs(folder, exist_ok=True)
    shutil.copyfile(vocab, os.path.join(folder, "vocab.txt"))
    errors = []
    for name in ("DistilBertTokenizer", "BertTokenizer", "DistilBertTokenizerFast",
                 "BertTokenizerFast"):
        cls = getattr(transformers, name, None)
        if cls is None:
            continue
        attempts = [("from_pretrained", lambda: cls.from_pretrained(folder)),
                    ("vocab_file", lambda: cls(vocab_file=vocab, do_lower_case=True)),
                    ("vocab", lambda: cls(vocab={t: i for i, t in enumerate(lines)},
                                          do_lower_case=True))]
        for how, make in attempts:
            try:
                tokenizer = make()
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append("%s.%s: %r" % (name, how, error))
                continue
            size = len(tokenizer.get_vocab())
            if size == len(lines) and tokenizer.convert_tokens_to_ids("ok") == lines.index("ok"):
                return tokenizer, "%s (%s)" % (name, how)
            errors.append("%s.%s: vocabulary of %d" % (name, how, size))
    sys.exit("no tokenizer took the whole vocab.txt: " + "; ".join(errors))


def randomise(model):
    """HF's initialisation (std 0.02) leaves every probability near 0.5, which would make the
    comparison weak; spread the weights so that the outputs differ clearly between texts."""
    generator = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if "LayerNorm" in name or "layer_norm" in name:
                parameter.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * noise)
            elif name.endswith("bias"):
                parameter.copy_(0.1 * noise)
            elif "embeddings" in name:
                parameter.copy_(noise)
            else:
                parameter.copy_(noise / math.sqrt(parameter.shape[1]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vocab", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    tokenizer, tokenizer_class = make_tokenizer(args.vocab)
    config = DistilBertConfig(
        vocab_size=len(tokenizer.get_vocab()), dim=32, n_layers=2, n_heads=2, hidden_dim=64,
        max_position_embeddings=128, id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1}, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification(config)
    randomise(model)
    model.eval()

    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    shutil.copyfile(args.vocab, os.path.join(args.out, "vocab.txt"))

    ids = [tokenizer(text)["input_ids"] for text in TEXTS]
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"],
                       attention_mask=batch["attention_mask"]).logits
        probabilities = torch.softmax(logits.double(), dim=-1)
        # Each text alone as well: padding must not change a text's result.
        alone = [torch.softmax(model(**tokenizer(t, return_tensors="pt")).logits.double(), -1)[0]
                 for t in TEXTS]
    spread = (probabilities - torch.stack(alone)).abs().max().item()
    expected = {
        "generator": "transformers %s, torch %s, %s" % (transformers.__version__,
                                                       torch.__version__, tokenizer_class),
        "attention_implementation": getattr(model.config, "_attn_implementation", None),
        "texts": TEXTS,
        "input_ids": ids,
        "probabilities": probabilities.tolist(),
        "padded_vs_alone_max_difference": spread,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(json.dumps({k: v for k, v in expected.items() if k != "texts"}, ensure_ascii=False))


if __name__ == "__main__":
    main()
