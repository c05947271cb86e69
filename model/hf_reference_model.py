#!/usr/bin/env python3
"""An independent reference for murmur's DistilBertForSequenceClassification.

Hugging Face transformers is not installable on these machines, so this script re-implements
transformers' DistilBertForSequenceClassification forward pass (modeling_distilbert.py, eval
mode) in plain Python with float64 arithmetic, sharing no code with murmur's C++ model:

  Embeddings:  word_embeddings[ids] + position_embeddings[arange(L)] -> LayerNorm(eps=1e-12)
  per layer:   q,k,v = q_lin/k_lin/v_lin(x); q /= sqrt(dim_per_head); scores = q k^T;
               scores.masked_fill(mask == 0, -inf); softmax; context = weights v; out_lin;
               sa_layer_norm(attention + x); ffn = lin2(gelu_erf(lin1(.)));
               output_layer_norm(ffn + sa)
  head:        hidden[:, 0] -> pre_classifier -> ReLU -> classifier -> softmax

It writes a small random model directory in Hugging Face's layout (config.json as
PretrainedConfig.to_json_file writes it, vocab.txt, model.safetensors with its own safetensors
writer, tensors in safetensors' (alignment, name) order, {"format": "pt"} metadata), runs the
padded batch with its attention mask, and writes the expected probabilities as JSON.

Usage: hf_reference_model.py --out DIR --vocab vocab.txt --ids ids.json --expected out.json
  ids.json: [[101, ..., 102], ...] token ids per text ([CLS] ... [SEP]).
"""

import argparse
import json
import math
import os
import random
import shutil
import struct

DIM, N_LAYERS, N_HEADS, HIDDEN, MAX_POS = 32, 2, 2, 64, 64
LABELS = ["negative", "positive"]


def f32(values):
    """Rounds to float32, as the weights stored in the file are."""
    packed = struct.pack("<%df" % len(values), *values)
    return list(struct.unpack("<%df" % len(values), packed))


class Params:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.tensors = {}  # name -> (shape, flat float32-valued list)

    def add(self, name, shape, mean, std):
        n = 1
        for d in shape:
            n *= d
        self.tensors[name] = (shape, f32([self.rng.gauss(mean, std) for _ in range(n)]))

    def linear(self, name, out_dim, in_dim, scale=1.0):
        self.add(name + ".weight", [out_dim, in_dim], 0.0, scale / math.sqrt(in_dim))
        self.add(name + ".bias", [out_dim], 0.0, 0.1)

    def layer_norm(self, name, dim):
        self.add(name + ".weight", [dim], 1.0, 0.1)
        self.add(name + ".bias", [dim], 0.0, 0.1)

    def __getitem__(self, name):
        return self.tensors[name][1]


def build(vocab_size, seed):
    p = Params(seed)
    p.add("distilbert.embeddings.word_embeddings.weight", [vocab_size, DIM], 0.0, 1.0)
    p.add("distilbert.embeddings.position_embeddings.weight", [MAX_POS, DIM], 0.0, 1.0)
    p.layer_norm("distilbert.embeddings.LayerNorm", DIM)
    for i in range(N_LAYERS):
        prefix = "distilbert.transformer.layer.%d." % i
        for lin in ("q_lin", "k_lin", "v_lin", "out_lin"):
            p.linear(prefix + "attention." + lin, DIM, DIM)
        p.layer_norm(prefix + "sa_layer_norm", DIM)
        p.linear(prefix + "ffn.lin1", HIDDEN, DIM)
        p.linear(prefix + "ffn.lin2", DIM, HIDDEN)
        p.layer_norm(prefix + "output_layer_norm", DIM)
    p.linear("pre_classifier", DIM, DIM)
    # Large enough that the probabilities spread well away from 0.5.
    p.linear("classifier", len(LABELS), DIM, scale=4.0)
    return p


def write_safetensors(path, tensors):
    names = sorted(tensors)  # safetensors orders by dtype alignment, then name; all F32 here
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in names:
        shape, values = tensors[name]
        blob = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def write_config(path, vocab_size):
    config = {
        "activation": "gelu",
        "architectures": ["DistilBertForSequenceClassification"],
        "attention_dropout": 0.1,
        "dim": DIM,
        "dropout": 0.1,
        "hidden_dim": HIDDEN,
        "id2label": {str(i): label for i, label in enumerate(LABELS)},
        "initializer_range": 0.02,
        "label2id": {label: i for i, label in enumerate(LABELS)},
        "max_position_embeddings": MAX_POS,
        "model_type": "distilbert",
        "n_heads": N_HEADS,
        "n_layers": N_LAYERS,
        "pad_token_id": 0,
        "problem_type": "single_label_classification",
        "qa_dropout": 0.1,
        "seq_classif_dropout": 0.2,
        "sinusoidal_pos_embds": False,
        "tie_weights_": True,
        "torch_dtype": "float32",
        "transformers_version": "4.46.3",
        "vocab_size": vocab_size,
    }
    with open(path, "w") as f:
        f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")


def linear(x, weight, bias, out_dim, in_dim):
    return [[bias[o] + sum(weight[o * in_dim + i] * row[i] for i in range(in_dim))
             for o in range(out_dim)] for row in x]


def layer_norm(x, weight, bias, eps=1e-12):
    out = []
    for row in x:
        mean = sum(row) / len(row)
        var = sum((v - mean) ** 2 for v in row) / len(row)  # biased, as torch
        inv = 1.0 / math.sqrt(var + eps)
        out.append([(v - mean) * inv * weight[j] + bias[j] for j, v in enumerate(row)])
    return out


def gelu(v):
    return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))


def softmax(row):
    finite = [v for v in row if v != -math.inf]
    m = max(finite)
    e = [math.exp(v - m) if v != -math.inf else 0.0 for v in row]
    s = sum(e)
    return [v / s for v in e]


def add(a, b):
    return [[u + v for u, v in zip(ra, rb)] for ra, rb in zip(a, b)]


def forward(p, ids, mask):
    """One padded sequence (length L) with its 0/1 mask; returns the label probabilities."""
    length = len(ids)
    word = p["distilbert.embeddings.word_embeddings.weight"]
    pos = p["distilbert.embeddings.position_embeddings.weight"]
    x = [[word[t * DIM + j] + pos[i * DIM + j] for j in range(DIM)] for i, t in enumerate(ids)]
    x = layer_norm(x, p["distilbert.embeddings.LayerNorm.weight"],
                   p["distilbert.embeddings.LayerNorm.bias"])
    head_dim = DIM // N_HEADS
    for layer in range(N_LAYERS):
        pre = "distilbert.transformer.layer.%d." % layer
        lin = lambda name, inp, o, i: linear(inp, p[pre + name + ".weight"], p[pre + name + ".bias"], o, i)
        q = lin("attention.q_lin", x, DIM, DIM)
        k = lin("attention.k_lin", x, DIM, DIM)
        v = lin("attention.v_lin", x, DIM, DIM)
        context = [[0.0] * DIM for _ in range(length)]
        for h in range(N_HEADS):
            cols = range(h * head_dim, (h + 1) * head_dim)
            for i in range(length):
                scores = []
                for j in range(length):
                    s = sum((q[i][c] / math.sqrt(head_dim)) * k[j][c] for c in cols)
                    scores.append(s if mask[j] else -math.inf)
                weights = softmax(scores)
                for c in cols:
                    context[i][c] = sum(weights[j] * v[j][c] for j in range(length))
        sa = lin("attention.out_lin", context, DIM, DIM)
        sa = layer_norm(add(sa, x), p[pre + "sa_layer_norm.weight"], p[pre + "sa_layer_norm.bias"])
        h1 = [[gelu(val) for val in row] for row in lin("ffn.lin1", sa, HIDDEN, DIM)]
        ffn = lin("ffn.lin2", h1, DIM, HIDDEN)
        x = layer_norm(add(ffn, sa), p[pre + "output_layer_norm.weight"],
                       p[pre + "output_layer_norm.bias"])
    cls = [x[0]]
    pooled = [[max(0.0, v) for v in linear(cls, p["pre_classifier.weight"], p["pre_classifier.bias"], DIM, DIM)[0]]]
    logits = linear(pooled, p["classifier.weight"], p["classifier.bias"], len(LABELS), DIM)[0]
    return softmax(logits)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--vocab", required=True)
    parser.add_argument("--ids", required=True)
    parser.add_argument("--expected", required=True)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()

    with open(args.vocab, encoding="utf-8") as f:
        vocab_size = sum(1 for _ in f)
    os.makedirs(args.out, exist_ok=True)
    shutil.copyfile(args.vocab, os.path.join(args.out, "vocab.txt"))
    write_config(os.path.join(args.out, "config.json"), vocab_size)
    params = build(vocab_size, args.seed)
    write_safetensors(os.path.join(args.out, "model.safetensors"), params.tensors)

    with open(args.ids) as f:
        batch = json.load(f)
    # Hugging Face style: pad the batch to its longest sequence, mask the padding.
    width = max(len(ids) for ids in batch)
    expected = []
    for ids in batch:
        padded = ids + [0] * (width - len(ids))
        mask = [1] * len(ids) + [0] * (width - len(ids))
        expected.append(forward(params, padded, mask))
    with open(args.expected, "w") as f:
        json.dump({"probabilities": expected}, f)


if __name__ == "__main__":
    main()
