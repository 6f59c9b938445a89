// A patchrnn built for another CPU (scripts/build-portable.sh --cpu NAME, or a binary copied
// from another machine) would die of SIGILL, with no word of why, at the first instruction
// this CPU lacks. This check runs before anything else (a constructor, before Swift's main)
// and, where the build targets an instruction set extension this CPU does not have, says so
// and exits 1. The same list answers csync_cpu_has_avx512f (the kernels' choice of tile), so
// the CPU's extensions are read in one place.
//
// What the build targets is read from the C compiler's predefined macros here, so it is the
// -march this file was compiled with (-march=native, or -Xcc -march=NAME); the Swift code's
// -target-cpu is passed alongside it by every build of this project (Package.swift,
// scripts/build-portable.sh). The list covers the extensions -march enables that compilers use
// on their own (vector, bit manipulation, crypto) on current Intel and AMD server CPUs.
//
// The functions are compiled with every extension beyond baseline x86-64 switched off (a
// target("arch=x86-64") alone keeps the features -march put on the command line), so that the
// check itself runs on any x86-64 CPU.
#include "csync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#define BASELINE \
    __attribute__((target("arch=x86-64,no-avx,no-bmi,no-bmi2,no-lzcnt,no-movbe,no-popcnt,no-sse3,no-ssse3,no-sse4.1,no-sse4.2")))

typedef struct {
    const char *name;
    int present;
} build_feature;

enum { MAX_FEATURES = 64 };

// The extensions this build targets, each with whether this CPU has it (the names are
// __builtin_cpu_supports's, which also checks that the OS saves the AVX and AVX-512 state).
BASELINE static int build_features(build_feature *out) {
    int n = 0;
    __builtin_cpu_init();
#define FEATURE(feature_name)                                \
    out[n].name = feature_name;                              \
    out[n].present = __builtin_cpu_supports(feature_name);   \
    n++;
#if defined(__SSE3__)
    FEATURE("sse3")
#endif
#if defined(__SSSE3__)
    FEATURE("ssse3")
#endif
#if defined(__SSE4_1__)
    FEATURE("sse4.1")
#endif
#if defined(__SSE4_2__)
    FEATURE("sse4.2")
#endif
#if defined(__POPCNT__)
    FEATURE("popcnt")
#endif
#if defined(__AVX__)
    FEATURE("avx")
#endif
#if defined(__AVX2__)
    FEATURE("avx2")
#endif
#if defined(__FMA__)
    FEATURE("fma")
#endif
#if defined(__F16C__)
    FEATURE("f16c")
#endif
#if defined(__BMI__)
    FEATURE("bmi")
#endif
#if defined(__BMI2__)
    FEATURE("bmi2")
#endif
#if defined(__LZCNT__)
    FEATURE("lzcnt")
#endif
#if defined(__MOVBE__)
    FEATURE("movbe")
#endif
#if defined(__AES__)
    FEATURE("aes")
#endif
#if defined(__PCLMUL__)
    FEATURE("pclmul")
#endif
#if defined(__ADX__)
    FEATURE("adx")
#endif
#if defined(__SHA__)
    FEATURE("sha")
#endif
#if defined(__AVX512F__)
    FEATURE("avx512f")
#endif
#if defined(__AVX512CD__)
    FEATURE("avx512cd")
#endif
#if defined(__AVX512BW__)
    FEATURE("avx512bw")
#endif
#if defined(__AVX512DQ__)
    FEATURE("avx512dq")
#endif
#if defined(__AVX512VL__)
    FEATURE("avx512vl")
#endif
#if defined(__AVX512VBMI__)
    FEATURE("avx512vbmi")
#endif
#if defined(__AVX512VBMI2__)
    FEATURE("avx512vbmi2")
#endif
#if defined(__AVX512IFMA__)
    FEATURE("avx512ifma")
#endif
#if defined(__AVX512VNNI__)
    FEATURE("avx512vnni")
#endif
#if defined(__AVX512BITALG__)
    FEATURE("avx512bitalg")
#endif
#if defined(__AVX512VPOPCNTDQ__)
    FEATURE("avx512vpopcntdq")
#endif
#if defined(__AVX512BF16__)
    FEATURE("avx512bf16")
#endif
#if defined(__AVX512FP16__)
    FEATURE("avx512fp16")
#endif
#if defined(__GFNI__)
    FEATURE("gfni")
#endif
#if defined(__VAES__)
    FEATURE("vaes")
#endif
#if defined(__VPCLMULQDQ__)
    FEATURE("vpclmulqdq")
#endif
#if defined(__AVXVNNI__)
    FEATURE("avxvnni")
#endif
#undef FEATURE
    return n;
}

BASELINE const char *csync_missing_cpu_feature(void) {
    build_feature features[MAX_FEATURES];
    int n = build_features(features);
    for (int i = 0; i < n; i++) {
        if (!features[i].present) return features[i].name;
    }
    return NULL;
}

// The build must target AVX-512F too: where it does not (-march=native on an AVX2 machine),
// SIMD16 code is pairs of 256-bit operations (and the 8x32 tile spills), whatever the CPU.
BASELINE int csync_cpu_has_avx512f(void) {
    build_feature features[MAX_FEATURES];
    int n = build_features(features);
    for (int i = 0; i < n; i++) {
        if (strcmp(features[i].name, "avx512f") == 0) return features[i].present;
    }
    return 0;
}

BASELINE const char *csync_build_cpu_features(void) {
    static char names[MAX_FEATURES * 16];
    build_feature features[MAX_FEATURES];
    int n = build_features(features);
    names[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0) strcat(names, " ");
        strcat(names, features[i].name);
    }
    return names;
}

BASELINE __attribute__((constructor)) static void csync_check_cpu(void) {
    const char *missing = csync_missing_cpu_feature();
    if (missing == NULL) return;
    fprintf(stderr,
            "patchrnn: this binary was built for a CPU with %s, which this CPU does not have; "
            "build it on this machine (swift build -c release) or for this CPU "
            "(scripts/build-portable.sh --cpu NAME)\n",
            missing);
    exit(1);
}
#else
int csync_cpu_has_avx512f(void) { return 0; }
const char *csync_missing_cpu_feature(void) { return NULL; }
const char *csync_build_cpu_features(void) { return ""; }
#endif
