"""murmur's own CPU kernels (attention, LayerNorm, masked softmax, softmax cross-entropy): each
a library on cpu_vector.h with its test beside it."""

# -O3, and -fopenmp, without which at::parallel_for (inline in ATen's headers) runs its loop
# serially; kernels also depend on //third_party:openmp for the runtime.
KERNEL_COPTS = [
    "-O3",
    "-fopenmp",
]

def cpu_kernel(name):
    """NAME.cc/.h as library NAME on cpu_vector.h, and NAME_test.cc as its test."""
    native.cc_library(
        name = name,
        srcs = [name + ".cc"],
        hdrs = [name + ".h"],
        copts = KERNEL_COPTS,
        deps = [
            ":cpu_vector",
            "//third_party:openmp",
            "//third_party:torch",
        ],
    )
    native.cc_test(
        name = name + "_test",
        srcs = [name + "_test.cc"],
        deps = [
            ":" + name,
            "//third_party:gtest_main",
            "//third_party:torch",
        ],
    )
