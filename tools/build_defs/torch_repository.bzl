"""The libtorch murmur builds against, as the external repository @libtorch_api.

Default: Debian's CPU libtorch (libtorch-dev): headers in /usr/include (the C++ API's in
/usr/include/torch/csrc/api/include), libraries on the default search path. The CPU build and
CI use this.

`--repo_env=MURMUR_TORCH=DIR` (with `--config=cuda` for the GPU build): the libtorch in DIR, a
PyTorch wheel's package directory (site-packages/torch) or an unpacked libtorch archive, each
with include/ and lib/. Its CUDA libraries (libtorch_cuda, libc10_cuda) are linked when
present. NCCL and the CUDA runtime come from the wheel's neighbours (site-packages/nvidia/nccl,
nvidia/cu13 or nvidia/cuda_runtime) when there, else from CUDA_HOME (default /usr/local/cuda).

Targets: `torch` (headers, defines, libraries), `headers` (what `torch` compiles against), `nccl`
(NCCL and the CUDA runtime, for worker/nccl_communicator).
"""

def _first_existing(ctx, paths):
    for path in paths:
        if path and ctx.path(path).exists:
            return path
    return None

def _library_named(ctx, directory, prefix):
    """The file name of `prefix`.so* in `directory` (e.g. libcudart.so.13), or None."""
    if not directory:
        return None
    names = sorted([entry.basename for entry in ctx.path(directory).readdir()])
    for name in names:
        if name == prefix + ".so" or name.startswith(prefix + ".so."):
            return name
    return None

def _nccl_target(ctx, site):
    cuda_home = ctx.os.environ.get("CUDA_HOME", "/usr/local/cuda")
    nccl = _first_existing(ctx, [site + "/nvidia/nccl" if site else None, cuda_home])
    runtime = _first_existing(ctx, [
        site + "/nvidia/cu13" if site else None,
        site + "/nvidia/cuda_runtime" if site else None,
        cuda_home,
    ])
    includes, linkopts = [], []
    for name, root in [("_nccl", nccl), ("_cuda", runtime)]:
        if root and ctx.path(root + "/include").exists:
            ctx.symlink(root + "/include", name + "/include")
            includes.append(name + "/include")
    for root, prefix in [(nccl, "libnccl"), (runtime, "libcudart")]:
        if not root:
            continue
        libdir = _first_existing(ctx, [root + "/lib", root + "/lib64"])
        name = _library_named(ctx, libdir, prefix)
        if name:
            linkopts += ["-L" + libdir, "-Wl,-rpath," + libdir, "-l:" + name]
    return """
# NCCL and the CUDA runtime ({nccl}; {runtime}).
cc_library(
    name = "nccl",
    hdrs = glob(["_nccl/include/**", "_cuda/include/**"]),
    includes = {includes},
    linkopts = {linkopts},
)
""".format(nccl = nccl, runtime = runtime, includes = includes, linkopts = linkopts)

def _debian(ctx):
    api = "/usr/include/torch/csrc/api/include"
    for entry in ctx.path(api).readdir():
        ctx.symlink(entry, entry.basename)
    return """
# Debian's libtorch: the C++ API headers (the rest of libtorch's are in /usr/include).
cc_library(
    name = "headers",
    hdrs = glob(["**/*.h"], exclude = ["_nccl/**", "_cuda/**"]),
    includes = ["."],
)

cc_library(
    name = "torch",
    defines = ["USE_C10D_GLOO"],  # c10d's ProcessGroupGloo.hpp compiles only with it
    linkopts = [
        "-ltorch",
        "-ltorch_cpu",
        "-lc10",
        "-lpthread",
    ],
    deps = [":headers"],
)
""" + _nccl_target(ctx, None)

def _named(ctx, root):
    include, lib = root + "/include", root + "/lib"
    if not ctx.path(include).exists or not ctx.path(lib).exists:
        fail("MURMUR_TORCH=%s: expected a libtorch with include/ and lib/ (site-packages/torch, or an unpacked libtorch)" % root)
    for entry in ctx.path(include).readdir():
        # The wheel's own protobuf headers would shadow Debian's, which the generated code needs.
        if entry.basename != "google":
            ctx.symlink(entry, "include/" + entry.basename)
    ctx.symlink(include + "/torch/csrc/api/include", "api")
    cuda = ctx.path(lib + "/libtorch_cuda.so").exists
    libraries = ["-ltorch_cuda", "-lc10_cuda"] if cuda else []
    site = str(ctx.path(root).dirname)
    return """
# The libtorch in {root} ({kind}).
cc_library(
    name = "headers",
    hdrs = glob(["include/**/*.h", "include/**/*.hpp", "include/**/*.cuh", "api/**/*.h"]),
    includes = ["api", "include"],
)

cc_library(
    name = "torch",
    defines = {defines},
    linkopts = [
        "-L{lib}",
        "-Wl,-rpath,{lib}",
        # The CUDA libraries register their kernels at load time: nothing references them.
        "-Wl,--no-as-needed",
    ] + {libraries} + [
        "-ltorch",
        "-ltorch_cpu",
        "-lc10",
        "-Wl,--as-needed",
        "-lpthread",
    ],
    deps = [":headers"],
)
""".format(
        root = root,
        kind = "CUDA" if cuda else "CPU",
        lib = lib,
        libraries = libraries,
        defines = ["USE_C10D_GLOO", "USE_C10D_NCCL"] if cuda else ["USE_C10D_GLOO"],
    ) + _nccl_target(ctx, site)

def _torch_repository_impl(ctx):
    root = ctx.os.environ.get("MURMUR_TORCH", "")
    body = _named(ctx, root) if root else _debian(ctx)
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD", "package(default_visibility = [\"//visibility:public\"])\n" + body)

torch_repository = repository_rule(
    implementation = _torch_repository_impl,
    environ = ["MURMUR_TORCH", "CUDA_HOME"],
    local = True,
)
