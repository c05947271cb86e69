#!/usr/bin/env python3
"""murmur's conformance check of murmur-serve against gRPC's own Python library (Debian's
python3-grpcio), a gRPC implementation murmur did not write: grpc.health.v1 Check, server
reflection, the KServe v2 ServerLive/ServerReady/ModelMetadata, and ModelInfer with both
`contents` and `raw_input_contents`. The message classes come from the .proto files via protoc's
Python generator; the RPCs go through grpcio's generic channel API. Run by e2e_test.sh.

Usage: grpcio_conformance_check.py --target HOST:PORT --protos DIR --texts FILE --expected FILE
  --expected: `murmur predict` output for the same texts (one JSON line per text); ModelInfer's
  probabilities must match within 1e-5.
Exits 0 when every check passes, 1 otherwise (printing what failed).
"""

import argparse
import importlib
import json
import os
import struct
import subprocess
import sys
import tempfile

import grpc


def generate(protos_dir, out_dir):
    files = ["proto/grpc_inference_service.proto", "proto/health.proto"]
    subprocess.run(["protoc", "-I", protos_dir, "--python_out", out_dir] + files, check=True)
    sys.path.insert(0, out_dir)
    return (importlib.import_module("proto.grpc_inference_service_pb2"),
            importlib.import_module("proto.health_pb2"))


def unary(channel, method, request, response_class):
    call = channel.unary_unary(method, request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=response_class.FromString)
    return call(request, timeout=30)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--protos", required=True)
    parser.add_argument("--texts", required=True)
    parser.add_argument("--expected", required=True)
    args = parser.parse_args()
    failures = []

    def check(condition, what):
        print(("ok   " if condition else "FAIL ") + what)
        if not condition:
            failures.append(what)

    with tempfile.TemporaryDirectory() as out:
        os.makedirs(os.path.join(out, "proto"))
        open(os.path.join(out, "proto", "__init__.py"), "w").close()
        kserve, health = generate(args.protos, out)
        with open(args.texts, encoding="utf-8") as f:
            texts = [line.rstrip("\n") for line in f]
        with open(args.expected) as f:
            expected = [json.loads(line)["probabilities"] for line in f]

        channel = grpc.insecure_channel(args.target)
        status = unary(channel, "/grpc.health.v1.Health/Check",
                       health.HealthCheckRequest(service=""), health.HealthCheckResponse)
        check(status.status == health.HealthCheckResponse.SERVING, "health: SERVING")
        svc = "/inference.GRPCInferenceService/"
        check(unary(channel, svc + "ServerLive", kserve.ServerLiveRequest(),
                    kserve.ServerLiveResponse).live, "ServerLive")
        check(unary(channel, svc + "ServerReady", kserve.ServerReadyRequest(),
                    kserve.ServerReadyResponse).ready, "ServerReady")
        metadata = unary(channel, svc + "ModelMetadata", kserve.ModelMetadataRequest(
            name="sentiment"), kserve.ModelMetadataResponse)
        check([i.name for i in metadata.inputs] == ["text"] and
              [o.name for o in metadata.outputs] == ["probabilities", "label"],
              "ModelMetadata: text -> probabilities, label")

        for raw in (False, True):
            request = kserve.ModelInferRequest(model_name="sentiment", id="py")
            tensor = request.inputs.add(name="text", datatype="BYTES", shape=[len(texts)])
            encoded = [t.encode("utf-8") for t in texts]
            if raw:
                request.raw_input_contents.append(
                    b"".join(struct.pack("<I", len(e)) + e for e in encoded))
            else:
                tensor.contents.bytes_contents.extend(encoded)
            response = unary(channel, svc + "ModelInfer", request, kserve.ModelInferResponse)
            outputs = {o.name: i for i, o in enumerate(response.outputs)}
            if raw:
                data = response.raw_output_contents[outputs["probabilities"]]
                flat = struct.unpack("<%df" % (len(data) // 4), data)
            else:
                flat = response.outputs[outputs["probabilities"]].contents.fp32_contents
            got = [list(flat[2 * i:2 * i + 2]) for i in range(len(texts))]
            worst = max(abs(a - b) for g, e in zip(got, expected) for a, b in zip(g, e))
            check(len(got) == len(expected) and worst <= 1e-5,
                  "ModelInfer (%s) matches murmur predict (max diff %.2g)" %
                  ("raw_input_contents" if raw else "contents", worst))
            check(response.id == "py" and response.model_version != "", "ModelInfer: id, version")

        # Server reflection (what grpcurl and Postman use): ServerReflectionRequest with
        # list_services (field 7, an empty string) encoded by hand; the answer names services.
        reflection = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=lambda b: b, response_deserializer=lambda b: b)
        answers = list(reflection(iter([b"\x3a\x00"]), timeout=30))
        check(any(b"inference.GRPCInferenceService" in a and
                  b"murmur.serving.v1.ClassifyService" in a for a in answers),
              "reflection lists the services")

        try:
            bad = kserve.ModelInferRequest(model_name="sentiment")
            bad.inputs.add(name="text", datatype="BYTES", shape=[1]).contents.bytes_contents.append(
                b"\xff\xfe")
            unary(channel, svc + "ModelInfer", bad, kserve.ModelInferResponse)
            check(False, "invalid UTF-8 refused")
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.INVALID_ARGUMENT, "invalid UTF-8: INVALID_ARGUMENT")

    print("%d check(s) failed" % len(failures) if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
