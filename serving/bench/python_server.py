#!/usr/bin/env python3
"""The benchmark's baseline: a per-request Python gRPC server wrapping the same checkpoint, the
way a typical scoring script serves a model — grpcio's thread pool, one forward pass per request
(no cross-request batching), fp32 PyTorch (Debian's python3-torch).

It speaks murmur's own API (murmur.serving.v1.ClassifyService/Classify), so the same load
generator (`murmur bench serve`) drives both servers. The message classes are generated from
proto/serving.proto with protoc at start-up; the service is registered through grpcio's generic
handler API (Debian ships no grpc_tools).

DistilBertForSequenceClassification's eval forward pass (transformers' modeling_distilbert.py)
is written out with torch.nn.functional over the safetensors weights; the tokenizer is BERT's
uncased basic tokenizer + WordPiece. model/hf_reference_model.py is an independent reference too,
but pure Python float64 (a test oracle for tiny models, far too slow to benchmark).

Usage: python_server.py --model DIR --port P --protos REPO_ROOT [--workers N] [--threads T]
"""

import argparse
import importlib
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import unicodedata
from concurrent import futures

import grpc
import torch
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        start, end = info["data_offsets"]
        buffer = bytearray(data[base + start:base + end])
        tensors[name] = torch.frombuffer(buffer, dtype=torch.float32).reshape(info["shape"])
    return tensors


class WordPiece:
    """BERT uncased: clean, split CJK, whitespace, lowercase, strip accents, split punctuation,
    then greedy longest-match WordPiece with '##' continuations."""

    def __init__(self, vocab_path):
        with open(vocab_path, encoding="utf-8") as f:
            self.vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
        self.unk, self.cls, self.sep = self.vocab["[UNK]"], self.vocab["[CLS]"], self.vocab["[SEP]"]

    @staticmethod
    def _is_punct(ch):
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(ch).startswith("P")

    @staticmethod
    def _is_cjk(cp):
        return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
                0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or
                0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)

    def _words(self, text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD:
                continue
            cat = unicodedata.category(ch)
            if ch in " \t\n\r" or cat == "Zs":
                out.append(" ")
            elif cat.startswith("C"):
                continue
            elif self._is_cjk(cp):
                out.append(" " + ch + " ")
            else:
                out.append(ch)
        words = []
        for token in "".join(out).split():
            token = unicodedata.normalize("NFD", token.lower())
            token = "".join(c for c in token if unicodedata.category(c) != "Mn")
            current = ""
            for ch in token:
                if self._is_punct(ch):
                    if current:
                        words.append(current)
                    words.append(ch)
                    current = ""
                else:
                    current += ch
            if current:
                words.append(current)
        return words

    def encode(self, text, max_len):
        ids = [self.cls]
        for word in self._words(text):
            if len(word) > 100:
                ids.append(self.unk)
                continue
            pieces, start = [], 0
            while start < len(word):
                end, piece = len(word), None
                while start < end:
                    candidate = ("##" if start > 0 else "") + word[start:end]
                    if candidate in self.vocab:
                        piece = self.vocab[candidate]
                        break
                    end -= 1
                if piece is None:
                    pieces = [self.unk]
                    break
                pieces.append(piece)
                start = end
            ids.extend(pieces)
        ids = ids[:max_len - 1]
        ids.append(self.sep)
        return ids


class DistilBert:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.config = json.load(f)
        self.w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.labels = [self.config["id2label"][str(i)] for i in range(len(self.config["id2label"]))]
        self.dim, self.heads = self.config["dim"], self.config["n_heads"]
        self.layers = self.config["n_layers"]
        self.max_len = self.config["max_position_embeddings"]
        self.tokenizer = WordPiece(os.path.join(model_dir, "vocab.txt"))

    def _ln(self, x, name):
        return F.layer_norm(x, (self.dim,), self.w[name + ".weight"], self.w[name + ".bias"], 1e-12)

    def _lin(self, x, name):
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    @torch.no_grad()
    def classify(self, texts):
        seqs = [self.tokenizer.encode(t, self.max_len) for t in texts]
        width = max(len(s) for s in seqs)
        ids = torch.tensor([s + [0] * (width - len(s)) for s in seqs])
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
        p = "distilbert."
        x = self.w[p + "embeddings.word_embeddings.weight"][ids] + \
            self.w[p + "embeddings.position_embeddings.weight"][:width]
        x = self._ln(x, p + "embeddings.LayerNorm")
        b, d = ids.shape[0], self.dim // self.heads
        for i in range(self.layers):
            prefix = p + "transformer.layer.%d." % i

            def heads(t):
                return t.view(b, width, self.heads, d).transpose(1, 2)

            q = heads(self._lin(x, prefix + "attention.q_lin")) / math.sqrt(d)
            k = heads(self._lin(x, prefix + "attention.k_lin"))
            v = heads(self._lin(x, prefix + "attention.v_lin"))
            scores = (q @ k.transpose(2, 3)).masked_fill(mask[:, None, None, :] == 0,
                                                         torch.finfo(torch.float32).min)
            context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, width, self.dim)
            x = self._ln(self._lin(context, prefix + "attention.out_lin") + x,
                         prefix + "sa_layer_norm")
            ffn = self._lin(F.gelu(self._lin(x, prefix + "ffn.lin1")), prefix + "ffn.lin2")
            x = self._ln(ffn + x, prefix + "output_layer_norm")
        hidden = F.relu(self._lin(x[:, 0], "pre_classifier"))
        return self._lin(hidden, "classifier").softmax(-1).tolist()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--protos", required=True, help="directory holding proto/serving.proto")
    parser.add_argument("--workers", type=int, default=8, help="grpcio thread pool size")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads or os.cpu_count())

    out = tempfile.mkdtemp()
    subprocess.run(["protoc", "-I", args.protos, "--python_out", out, "proto/serving.proto"],
                   check=True)
    open(os.path.join(out, "proto", "__init__.py"), "w").close()
    sys.path.insert(0, out)
    pb = importlib.import_module("proto.serving_pb2")

    model = DistilBert(args.model)

    def classify(request, context):
        texts = [t.decode("utf-8", "replace") for t in request.texts]
        if not texts:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty batch")
        response = pb.ClassifyResponse(model="sentiment", version=1, id=request.id)
        for probabilities in model.classify(texts):
            label = max(range(len(probabilities)), key=probabilities.__getitem__)
            response.results.add(label_id=label, label=model.labels[label],
                                 score=probabilities[label], probabilities=probabilities)
        return response

    handler = grpc.method_handlers_generic_handler("murmur.serving.v1.ClassifyService", {
        "Classify": grpc.unary_unary_rpc_method_handler(
            classify, request_deserializer=pb.ClassifyRequest.FromString,
            response_serializer=pb.ClassifyResponse.SerializeToString)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:%d" % args.port)
    server.start()
    print("python server on 127.0.0.1:%d" % args.port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
