#!/usr/bin/env bash
# murmur-serve end to end with a real DistilBERT checkpoint (small preset, randomly initialised):
#  1. `murmur classify` returns the probabilities of `murmur predict` on the same directory;
#  2. murmur's grpcio conformance check (grpcio_conformance_check.py: gRPC's own Python library,
#     not murmur's client) passes health, reflection, KServe metadata and ModelInfer checks;
#  3. hot swap under load: `murmur bench serve` runs while `murmur publish` pushes version 2:
#     zero failed requests, and the first request after the push is answered by version 2;
#  4. a corrupt push (bytes changed after the manifest was written) is rejected and version 2
#     keeps answering; a push without the bearer token is UNAUTHENTICATED;
#  5. SIGTERM shuts the server down cleanly (exit 0).
# Usage (Bazel passes these): e2e_test.sh SERVE MURMUR WRITE_CHECKPOINT CONFORMANCE_PY PROTO_ROOT
set -euo pipefail
serve="$1" murmur="$2" write_checkpoint="$3" conformance_py="$4" proto_root="$5"
: "${MURMUR_SHARED_DATA:?set MURMUR_SHARED_DATA to the shared data directory}"
vocab="$MURMUR_SHARED_DATA/distilbert-base-uncased/vocab.txt"
work="${TEST_TMPDIR:-$(mktemp -d)}/e2e"
rm -rf "$work" && mkdir -p "$work/repo/sentiment"
fail() { echo "FAIL: $*" >&2; exit 1; }
# Debian's interpreter: python3-grpcio is installed for it (deploy/setup.sh), not for a pyenv one.
py=/usr/bin/python3

"$write_checkpoint" --preset small --vocab "$vocab" --out "$work/v1" --seed 1 >/dev/null
"$write_checkpoint" --preset small --vocab "$vocab" --out "$work/v2" --seed 2 --version 2 >/dev/null
cp -r "$work/v1" "$work/repo/sentiment/1"
echo "s3cret" > "$work/token"

# fp32 on both sides: the checks below compare probabilities to 1e-5 (bf16 depends on how texts
# are batched); --precision auto and bf16 are checked at the end.
"$serve" --model-repository "$work/repo" --host 127.0.0.1 --port 0 --metrics-port 0 \
  --auth-token-file "$work/token" --poll-ms 200 --precision fp32 --http-port 0 \
  2> "$work/serve.log" &
server_pid=$!
trap 'kill -9 $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "serving on" "$work/serve.log" && break; sleep 0.1; done
port=$(grep -o "serving on 127.0.0.1:[0-9]*" "$work/serve.log" | cut -d: -f2)
[ -n "$port" ] || { cat "$work/serve.log"; fail "server did not start"; }
grep -q "precision fp32 (requested)" "$work/serve.log" || { cat "$work/serve.log"; fail "no precision line"; }
target="127.0.0.1:$port"

head -n 40 "$MURMUR_SHARED_DATA/sentiment140_text_100k/positive.txt" > "$work/texts.txt"
head -n 40 "$MURMUR_SHARED_DATA/sentiment140_text_100k/negative.txt" >> "$work/texts.txt"
printf 'an emoji \xf0\x9f\x98\x80 and caf\xc3\xa9\n' >> "$work/texts.txt"

# 1. Same probabilities as murmur predict.
"$murmur" predict --model "$work/v1" --precision fp32 < "$work/texts.txt" > "$work/predict.jsonl"
"$murmur" classify --target "$target" --batch 16 < "$work/texts.txt" > "$work/classify.jsonl"
"$py" - "$work/predict.jsonl" "$work/classify.jsonl" <<'PY' || fail "classify != predict"
import json, sys
p = [json.loads(l) for l in open(sys.argv[1])]
c = [json.loads(l) for l in open(sys.argv[2])]
assert len(p) == len(c) and len(p) > 0, (len(p), len(c))
worst = max(abs(a - b) for x, y in zip(p, c) for a, b in zip(x["probabilities"], y["probabilities"]))
assert worst <= 1e-5, worst
assert all(x["label"] == y["label"] for x, y in zip(p, c))
assert all(y["model_version"] == 1 for y in c)
print("classify matches predict on %d texts (max diff %.2g)" % (len(p), worst))
PY

# 2. grpcio conformance.
"$py" "$conformance_py" --target "$target" --protos "$proto_root" --texts "$work/texts.txt" \
  --expected "$work/predict.jsonl" || fail "grpcio conformance check"

# 2b. The REST API with third-party clients (curl, Python's urllib): the same answers.
http_port=$(grep -o "HTTP on :[0-9]*" "$work/serve.log" | head -1 | cut -d: -f2)
[ -n "$http_port" ] || { cat "$work/serve.log"; fail "no HTTP port"; }
http="http://127.0.0.1:$http_port"
curl -sf "$http/v2/health/ready" | grep -q '"ready":true' || fail "REST ready"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$http/v2/models/nope")" = 404 ] || fail "REST 404"
curl -sf -X POST "$http/v1/classify" -H 'Content-Type: application/json' \
  -d '{"texts": ["curl says hello"]}' | grep -q '"model_version":1' || fail "REST classify (curl)"
"$py" - "$http" "$work/texts.txt" "$work/predict.jsonl" <<'PY' || fail "REST != predict"
import json, sys, urllib.error, urllib.request
base, texts_path, expected_path = sys.argv[1:]
texts = [l.rstrip("\n") for l in open(texts_path, encoding="utf-8")]
expected = [json.loads(l) for l in open(expected_path)]
def post(path, body):
    request = urllib.request.Request(base + path, data=body,
                                     headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=30))
body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}]}
out = post("/v2/models/sentiment/infer", json.dumps(body).encode())
probabilities = next(o for o in out["outputs"] if o["name"] == "probabilities")
assert probabilities["shape"] == [len(texts), 2], probabilities["shape"]
worst = max(abs(probabilities["data"][2 * i + j] - e["probabilities"][j])
            for i, e in enumerate(expected) for j in range(2))
assert worst <= 1e-5, worst
labels = next(o for o in out["outputs"] if o["name"] == "label")["data"]
assert labels == [e["label"] for e in expected]
classified = post("/v1/classify", json.dumps({"texts": texts[:3]}).encode())
assert [r["label"] for r in classified["results"]] == [e["label"] for e in expected[:3]]
try:
    post("/v2/models/sentiment/infer", b"{not json")
    raise SystemExit("bad JSON accepted")
except urllib.error.HTTPError as error:
    assert error.code == 400, error.code
    assert "error" in json.load(error)
doc = json.load(urllib.request.urlopen(base + "/openapi.json", timeout=30))
assert "/v2/models/{model}/infer" in doc["paths"]
print("REST (urllib): infer and classify match predict on %d texts (max diff %.2g)"
      % (len(texts), worst))
PY

# 3. Hot swap under load.
"$murmur" bench serve --target "$target" --concurrency 8 --duration 4 --warmup 0 \
  --texts "$work/texts.txt" --json > "$work/bench.txt" &
bench_pid=$!
sleep 1
if "$murmur" publish --target "$target" --model "$work/v2" 2> "$work/noauth.txt"; then
  fail "publish without a token succeeded"
fi
grep -q UNAUTHENTICATED "$work/noauth.txt" || fail "no UNAUTHENTICATED: $(cat "$work/noauth.txt")"
"$murmur" publish --target "$target" --model "$work/v2" --token-file "$work/token" \
  || fail "publish"
echo "the push came back; the next answer must come from version 2"
echo "just published" | "$murmur" classify --target "$target" | grep -q '"model_version": 2' \
  || fail "not answered by version 2 after the push"
wait $bench_pid
cat "$work/bench.txt"
tail -n 1 "$work/bench.txt" | "$py" -c '
import json, sys
r = json.loads(sys.stdin.read())
assert r["errors"] == {}, r["errors"]
assert r["requests_per_s"] > 0
print("hot swap under load: zero failed requests")' || fail "requests failed during the swap"

# 4. A corrupt push: change one byte of the weights after the manifest was written.
cp -r "$work/v2" "$work/bad"
"$py" - "$work/bad/model.safetensors" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(-10, 2)
    b = f.read(1)
    f.seek(-10, 2)
    f.write(bytes([b[0] ^ 0xFF]))
PY
if "$murmur" publish --target "$target" --model "$work/bad" --token-file "$work/token" \
    2> "$work/bad.txt"; then
  fail "corrupt push accepted"
fi
cat "$work/bad.txt"
grep -q FAILED_PRECONDITION "$work/bad.txt" || fail "corrupt push: wrong error"
echo "still here" | "$murmur" classify --target "$target" | grep -q '"model_version": 2' \
  || fail "version 2 stopped answering after the corrupt push"

# 5. Graceful shutdown.
kill -TERM $server_pid
wait $server_pid || fail "murmur-serve exited with $?"
trap - EXIT
grep -q "shut down" "$work/serve.log" || fail "no clean shutdown"

# 6. Precision: auto picks what this CPU runs natively and says why; a bf16 version is checked
# against fp32 on the warm-up texts at load; bf16 predictions stay close to fp32 ones.
mkdir -p "$work/repo-bf16/sentiment" && cp -r "$work/v1" "$work/repo-bf16/sentiment/1"
echo "let-me-in" > "$work/inference-token"
"$serve" --model-repository "$work/repo-bf16" --host 127.0.0.1 --port 0 --metrics-port -1 \
  --precision bf16 --inference-token-file "$work/inference-token" --http-port -1 \
  2> "$work/serve-bf16.log" &
bf16_pid=$!
trap 'kill -9 $bf16_pid 2>/dev/null || true' EXIT
for _ in $(seq 300); do grep -q "serving on" "$work/serve-bf16.log" && break; sleep 0.1; done
grep -q "precision bf16 (requested" "$work/serve-bf16.log" || { cat "$work/serve-bf16.log"; fail "no bf16 line"; }
grep -Eq "bf16 gives the fp32 label on [0-9]+ of 12 warm-up texts; largest probability difference 0\.0" \
  "$work/serve-bf16.log" || { cat "$work/serve-bf16.log"; fail "no bf16 agreement check at load"; }
grep "bf16 gives the fp32 label" "$work/serve-bf16.log"
# 7. Inference auth (--inference-token-file): no token, no classification.
bf16_target="127.0.0.1:$(grep -o "serving on 127.0.0.1:[0-9]*" "$work/serve-bf16.log" | cut -d: -f2)"
if echo "hi" | "$murmur" classify --target "$bf16_target" 2> "$work/noauth.txt"; then
  fail "classification without the inference token"
fi
grep -q UNAUTHENTICATED "$work/noauth.txt" || { cat "$work/noauth.txt"; fail "no UNAUTHENTICATED"; }
echo "hi" | "$murmur" classify --target "$bf16_target" --inference-token-file "$work/inference-token" \
  | grep -q '"model_version": 1' || fail "classification with the inference token"
kill -TERM $bf16_pid; wait $bf16_pid || true
trap - EXIT
"$murmur" predict --model "$work/v1" --precision auto < "$work/texts.txt" > "$work/auto.jsonl" \
  2> "$work/auto.err" || fail "predict --precision auto"
"$murmur" predict --model "$work/v1" --precision bf16 < "$work/texts.txt" > "$work/bf16.jsonl"
"$py" - "$work/predict.jsonl" "$work/bf16.jsonl" <<'PY' || fail "bf16 far from fp32"
import json, sys
p = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(p) == len(b) > 0
worst = max(abs(x - y) for u, v in zip(p, b) for x, y in zip(u["probabilities"], v["probabilities"]))
assert worst < 0.05, worst
print("bf16 within %.3f of fp32 on %d texts" % (worst, len(p)))
PY
if "$murmur" predict --model "$work/v1" --precision fast < /dev/null 2> "$work/bad-precision.txt"; then
  fail "--precision fast accepted"
fi
grep -q "precision must be auto, fp32 or bf16" "$work/bad-precision.txt" || fail "bad precision message"
echo "PASS"
