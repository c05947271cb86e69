"""C++ code generation for .proto files with the system protoc and grpc_cpp_plugin.

Bazel 4's native proto rules need rules_proto and a downloadable toolchain; this macro runs the
Debian protoc (3.21, the same protobuf libtorch links) directly, so the build stays offline.
Import paths are workspace-relative: `import "proto/common.proto";`.
"""

def murmur_cc_proto(name, srcs, deps = [], grpc = False, visibility = None):
    """Generates and compiles C++ messages (and gRPC stubs when grpc=True).

    Args:
      name: the cc_library target to create.
      srcs: .proto files in this package.
      deps: other murmur_cc_proto targets whose .proto files srcs import.
      grpc: also generate service stubs with grpc_cpp_plugin.
      visibility: visibility of the cc_library.
    """
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
        if grpc:
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]

    proto_deps = [d + "_protos" for d in deps]
    native.filegroup(
        name = name + "_protos",
        srcs = srcs + proto_deps,
        visibility = ["//visibility:public"],
    )

    cmd = "/usr/bin/protoc -I. --cpp_out=$(GENDIR)"
    if grpc:
        cmd += " --grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin"
    cmd += " " + " ".join(["$(location %s)" % s for s in srcs])

    native.genrule(
        name = name + "_gen",
        srcs = srcs + proto_deps,
        outs = outs,
        cmd = cmd,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["//third_party:protobuf"] + (["//third_party:grpc"] if grpc else []),
        visibility = visibility,
    )
