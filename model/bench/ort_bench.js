// ONNX Runtime's side of model_bench's peer comparison (inference_bench.sh): runs the exported
// model (export_onnx.py) with onnxruntime-node's CPU provider on the very batches murmur timed
// (model_bench --peer-batches: tweets sorted by length, cut into batches, each padded to its
// longest, as a careful ONNX Runtime user feeds them), and prints one line per batch size in
// model_bench's format, plus the probabilities of the first tweets for the cross-check.
//
// Usage: NODE_PATH=<node_modules with onnxruntime-node> node ort_bench.js --model model.onnx
//        --batches batches.json --threads N --iters N --probabilities out.json
"use strict";
const ort = require("onnxruntime-node");
const fs = require("fs");

function flag(name, fallback) {
  const i = process.argv.indexOf("--" + name);
  if (i < 0 || i + 1 >= process.argv.length) {
    if (fallback !== undefined) return fallback;
    throw new Error("missing --" + name);
  }
  return process.argv[i + 1];
}

function median(values) {
  const sorted = values.slice().sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// One padded [B, L] pair of int64 tensors.
function feeds(batch) {
  const length = Math.max(...batch.map(s => s.length));
  const ids = new BigInt64Array(batch.length * length), mask = new BigInt64Array(batch.length * length);
  batch.forEach((sequence, row) => sequence.forEach((id, col) => {
    ids[row * length + col] = BigInt(id);
    mask[row * length + col] = 1n;
  }));
  const dims = [batch.length, length];
  return {input_ids: new ort.Tensor("int64", ids, dims), attention_mask: new ort.Tensor("int64", mask, dims)};
}

function softmax(logits, row, classes) {
  const values = Array.from(logits.slice(row * classes, (row + 1) * classes));
  const top = Math.max(...values), exps = values.map(v => Math.exp(v - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map(e => e / sum);
}

(async () => {
  const threads = Number(flag("threads"));
  const iters = Number(flag("iters", "20"));
  const session = await ort.InferenceSession.create(flag("model"), {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
  });
  const plan = JSON.parse(fs.readFileSync(flag("batches"), "utf8"));
  const probabilities = [];
  for (const {batch_size: batchSize, batches} of plan.runs) {
    const timed = batches.slice(0, batchSize === 1 ? 4 * iters : iters);
    for (const batch of timed) await session.run(feeds(batch));  // untimed: warm
    const times = [];
    let tokens = 0;
    for (const batch of timed) {
      const input = feeds(batch);
      tokens += batch.reduce((n, s) => n + s.length, 0);
      const start = process.hrtime.bigint();
      const output = await session.run(input);
      times.push(Number(process.hrtime.bigint() - start) / 1e9);
      if (batchSize === plan.probabilities_batch_size && probabilities.length < plan.probabilities_count) {
        const classes = output.logits.dims[1];
        for (let row = 0; row < batch.length && probabilities.length < plan.probabilities_count; ++row) {
          probabilities.push(softmax(output.logits.data, row, classes));
        }
      }
    }
    const seconds = median(times);
    console.log(`  infer base ort  batch ${String(batchSize).padStart(3)}: ${(batchSize / seconds).toFixed(1).padStart(8)} tweets/s  median ${(1e3 * seconds).toFixed(2).padStart(7)} ms  ${(tokens / (timed.length * batchSize)).toFixed(1).padStart(5)} tok/seq`);
  }
  fs.writeFileSync(flag("probabilities"), JSON.stringify(probabilities));
})().catch(error => {
  console.error(error.message || error);
  process.exit(1);
});
