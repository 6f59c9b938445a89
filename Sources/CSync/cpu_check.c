// A patchrnn built for another CPU (scripts/build-portable.sh --cpu NAME, or a copied binary)
// would die of SIGILL, with no word of why, at the first instruction this CPU lacks. This
// check runs before anything else (a constructor, before Swift's main) and, where the build
// targets an instruction set extension this CPU does not have, says so and exits 1.
//
// The functions here are compiled for the baseline x86-64, so that the check itself runs on
// any x86-64 CPU whatever -march the rest of the build has.
#include "csync.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(__x86_64__)
#define BASELINE __attribute__((target("arch=x86-64")))

// The extensions compilers use on their own when -march allows them (vector code, bit
// manipulation), each with the name __builtin_cpu_supports knows it by.
BASELINE const char *csync_missing_cpu_feature(void) {
    __builtin_cpu_init();
#if defined(__AVX__)
    if (!__builtin_cpu_supports("avx")) return "avx";
#endif
#if defined(__AVX2__)
    if (!__builtin_cpu_supports("avx2")) return "avx2";
#endif
#if defined(__FMA__)
    if (!__builtin_cpu_supports("fma")) return "fma";
#endif
#if defined(__BMI__)
    if (!__builtin_cpu_supports("bmi")) return "bmi";
#endif
#if defined(__BMI2__)
    if (!__builtin_cpu_supports("bmi2")) return "bmi2";
#endif
#if defined(__AVX512F__)
    if (!__builtin_cpu_supports("avx512f")) return "avx512f";
#endif
#if defined(__AVX512BW__)
    if (!__builtin_cpu_supports("avx512bw")) return "avx512bw";
#endif
#if defined(__AVX512DQ__)
    if (!__builtin_cpu_supports("avx512dq")) return "avx512dq";
#endif
#if defined(__AVX512VL__)
    if (!__builtin_cpu_supports("avx512vl")) return "avx512vl";
#endif
    return NULL;
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
const char *csync_missing_cpu_feature(void) { return NULL; }
#endif
