#!/usr/bin/python3
"""The baseline murmur's trainer is measured against: DistilBERT sequence classification
trained the way a PyTorch user writes it with DistributedDataParallel (Gloo), fp32 or (--bf16)
CPU bf16 autocast, dynamic padding (each batch padded to its longest row), torch.optim.AdamW, a
DistributedSampler.

The model mirrors transformers' DistilBertForSequenceClassification (eager attention with a
padding mask, erf GELU, LayerNorm eps 1e-12, [CLS] -> pre_classifier -> ReLU -> dropout ->
classifier). Debian's torchrun breaks on Python 3.11, so the ranks are started by the caller
with MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE set, as torchrun would.

Usage: ddp_baseline.py --data ids.txt --preset small|base --batch-per-worker B --steps S
       [--warmup W] [--threads T]
  ids.txt: one sample per line, "label id id id ...".
Prints (rank 0): ddp_samples_per_s=<global samples per second over the timed steps>
"""

import argparse
import math
import os
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    "tiny": dict(dim=32, n_layers=2, n_heads=2, hidden_dim=64),
    "small": dict(dim=256, n_layers=2, n_heads=4, hidden_dim=1024),
    "base": dict(dim=768, n_layers=6, n_heads=12, hidden_dim=3072),
}


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, dim, n_heads, dropout):
        super().__init__()
        self.n_heads = n_heads
        self.dim = dim
        self.q_lin = nn.Linear(dim, dim)
        self.k_lin = nn.Linear(dim, dim)
        self.v_lin = nn.Linear(dim, dim)
        self.out_lin = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask):
        bs, length, _ = x.shape
        head = self.dim // self.n_heads

        def shape(t):
            return t.view(bs, -1, self.n_heads, head).transpose(1, 2)

        q = shape(self.q_lin(x)) / math.sqrt(head)
        k = shape(self.k_lin(x))
        v = shape(self.v_lin(x))
        scores = torch.matmul(q, k.transpose(2, 3))
        scores = scores.masked_fill((mask == 0).view(bs, 1, 1, length), torch.finfo(scores.dtype).min)
        weights = self.dropout(F.softmax(scores, dim=-1))
        context = torch.matmul(weights, v).transpose(1, 2).reshape(bs, -1, self.dim)
        return self.out_lin(context)


class TransformerBlock(nn.Module):
    def __init__(self, dim, n_heads, hidden_dim, dropout):
        super().__init__()
        self.attention = MultiHeadSelfAttention(dim, n_heads, dropout)
        self.sa_layer_norm = nn.LayerNorm(dim, eps=1e-12)
        self.lin1 = nn.Linear(dim, hidden_dim)
        self.lin2 = nn.Linear(hidden_dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.output_layer_norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x, mask):
        sa = self.sa_layer_norm(self.attention(x, mask) + x)
        ffn = self.dropout(self.lin2(F.gelu(self.lin1(sa))))
        return self.output_layer_norm(ffn + sa)


class DistilBertForSequenceClassification(nn.Module):
    def __init__(self, vocab_size, dim, n_layers, n_heads, hidden_dim, dropout=0.1, max_pos=512):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.position_embeddings = nn.Embedding(max_pos, dim)
        self.layer_norm = nn.LayerNorm(dim, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            [TransformerBlock(dim, n_heads, hidden_dim, dropout) for _ in range(n_layers)])
        self.pre_classifier = nn.Linear(dim, dim)
        self.classifier = nn.Linear(dim, 2)
        self.head_dropout = nn.Dropout(0.2)

    def forward(self, ids, mask):
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.dropout(self.layer_norm(self.word_embeddings(ids) + self.position_embeddings(positions)))
        for layer in self.layers:
            x = layer(x, mask)
        pooled = F.relu(self.pre_classifier(x[:, 0]))
        return self.classifier(self.head_dropout(pooled))


def load(path):
    labels, rows = [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            labels.append(int(parts[0]))
            rows.append([int(t) for t in parts[1:]])
    return labels, rows


def collate(rows, labels):
    longest = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), longest, dtype=torch.long)
    mask = torch.zeros(len(rows), longest, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    return ids, mask, torch.tensor(labels)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--vocab-size", type=int, default=30522)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch-per-worker", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bf16", action="store_true",
                        help="CPU bf16 autocast around forward and loss (the one line a "
                             "speed-minded PyTorch user adds); fp32 master weights")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(42)
    labels, rows = load(args.data)
    model = DistilBertForSequenceClassification(args.vocab_size, **PRESETS[args.preset])
    ddp = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.AdamW(ddp.parameters(), lr=5e-5, weight_decay=0.01)
    sampler = torch.utils.data.DistributedSampler(list(range(len(rows))), num_replicas=world,
                                                  rank=rank, shuffle=True, seed=42)
    order = list(iter(sampler))
    ddp.train()
    timed_samples, timed_seconds = 0, 0.0
    for step in range(args.steps + args.warmup):
        chunk = order[step * args.batch_per_worker:(step + 1) * args.batch_per_worker]
        ids, mask, target = collate([rows[i] for i in chunk], [labels[i] for i in chunk])
        start = time.perf_counter()
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = F.cross_entropy(ddp(ids, mask), target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ddp.parameters(), 1.0)
        optimizer.step()
        seconds = time.perf_counter() - start
        if step >= args.warmup:
            timed_samples += len(chunk) * world
            timed_seconds += seconds
    # The slowest rank sets the pace of synchronous training.
    elapsed = torch.tensor([timed_seconds])
    dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    if rank == 0:
        print("ddp_samples_per_s=%.1f" % (timed_samples / elapsed.item()), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
