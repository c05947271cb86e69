#!/usr/bin/env python3
"""Exports a murmur checkpoint (Hugging Face layout) as ONNX, for model_bench's ONNX Runtime peer.

A speed-minded user serving DistilBERT on CPUs exports the model with torch.onnx.export and runs
it in ONNX Runtime. transformers is not installable here, so this script builds the same
DistilBertForSequenceClassification forward pass from plain torch modules (Debian's
python3-torch), loads the checkpoint's model.safetensors into it by the Hugging Face tensor
names, and exports it with dynamic batch and sequence axes:

  inputs   input_ids [batch, sequence] int64, attention_mask [batch, sequence] int64
  output   logits [batch, num_labels] float32

Attention masks padded keys with an additive large negative bias (what transformers' ONNX
exports do), so padded batches give the unpadded logits.

Usage: export_onnx.py --checkpoint DIR --out model.onnx
"""

import argparse
import json
import math
import struct

import torch
from torch import nn


def read_safetensors(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            raise SystemExit(f"{name}: dtype {entry['dtype']}, expected F32")
        begin, end = entry["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32).reshape(
            entry["shape"])
    return tensors


class Block(nn.Module):
    def __init__(self, dim, hidden, heads, activation):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(dim, dim) for _ in range(4))
        self.sa_layer_norm = nn.LayerNorm(dim, eps=1e-12)
        self.lin1, self.lin2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.activation = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.output_layer_norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x, bias):
        batch, length = x.shape[0], x.shape[1]

        def heads(t):
            return t.view(batch, length, self.heads, self.head_dim).transpose(1, 2)

        q = heads(self.q_lin(x)) * (1.0 / math.sqrt(self.head_dim))
        k, v = heads(self.k_lin(x)), heads(self.v_lin(x))
        weights = torch.softmax(q @ k.transpose(2, 3) + bias, dim=-1)
        context = (weights @ v).transpose(1, 2).reshape(batch, length, self.heads * self.head_dim)
        sa = self.sa_layer_norm(self.out_lin(context) + x)
        return self.output_layer_norm(self.lin2(self.activation(self.lin1(sa))) + sa)


class DistilBertForSequenceClassification(nn.Module):
    def __init__(self, config):
        super().__init__()
        dim = config["dim"]
        self.word_embeddings = nn.Embedding(config["vocab_size"], dim)
        self.position_embeddings = nn.Embedding(config["max_position_embeddings"], dim)
        self.embeddings_layer_norm = nn.LayerNorm(dim, eps=1e-12)
        self.layers = nn.ModuleList(
            Block(dim, config["hidden_dim"], config["n_heads"], config.get("activation", "gelu"))
            for _ in range(config["n_layers"]))
        self.pre_classifier = nn.Linear(dim, dim)
        self.classifier = nn.Linear(dim, config.get("num_labels", 2))

    def forward(self, input_ids, attention_mask):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        x = self.embeddings_layer_norm(self.word_embeddings(input_ids) +
                                       self.position_embeddings(positions))
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, bias)
        return self.classifier(torch.relu(self.pre_classifier(x[:, 0])))

    def load_hf(self, tensors):
        names = {
            "word_embeddings": "distilbert.embeddings.word_embeddings",
            "position_embeddings": "distilbert.embeddings.position_embeddings",
            "embeddings_layer_norm": "distilbert.embeddings.LayerNorm",
            "pre_classifier": "pre_classifier",
            "classifier": "classifier",
        }
        state = {}
        for ours, theirs in names.items():
            for suffix in ("weight", "bias"):
                if f"{theirs}.{suffix}" in tensors:
                    state[f"{ours}.{suffix}"] = tensors[f"{theirs}.{suffix}"]
        for i in range(len(self.layers)):
            prefix = f"distilbert.transformer.layer.{i}."
            for module in ("q_lin", "k_lin", "v_lin", "out_lin"):
                for suffix in ("weight", "bias"):
                    state[f"layers.{i}.{module}.{suffix}"] = tensors[
                        f"{prefix}attention.{module}.{suffix}"]
            for module, theirs in (("sa_layer_norm", "sa_layer_norm"),
                                   ("output_layer_norm", "output_layer_norm"),
                                   ("lin1", "ffn.lin1"), ("lin2", "ffn.lin2")):
                for suffix in ("weight", "bias"):
                    state[f"layers.{i}.{module}.{suffix}"] = tensors[f"{prefix}{theirs}.{suffix}"]
        self.load_state_dict(state, strict=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(f"{args.checkpoint}/config.json") as f:
        config = json.load(f)
    model = DistilBertForSequenceClassification(config)
    model.load_hf(read_safetensors(f"{args.checkpoint}/model.safetensors"))
    model.eval()
    ids = torch.tensor([[101, 2023, 2003, 1037, 7099, 102], [101, 2204, 102, 0, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask), args.out, input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], opset_version=14,
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                        "attention_mask": {0: "batch", 1: "sequence"},
                                        "logits": {0: "batch"}})
    print(f"exported {args.checkpoint} to {args.out} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
