#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* sched_getaffinity, CPU_COUNT */
#endif
#include "csync.h"
#include <sched.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <limits.h>
#include <signal.h>
#include <pthread.h>
#include <string.h>

uint32_t csync_load(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
void csync_store(uint32_t *p, uint32_t value) { __atomic_store_n(p, value, __ATOMIC_SEQ_CST); }
uint32_t csync_fetch_add(uint32_t *p, uint32_t value) { return __atomic_fetch_add(p, value, __ATOMIC_SEQ_CST); }
uint32_t csync_fetch_sub(uint32_t *p, uint32_t value) { return __atomic_fetch_sub(p, value, __ATOMIC_SEQ_CST); }

void csync_futex_wait(uint32_t *p, uint32_t expected) {
    syscall(SYS_futex, p, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}
void csync_futex_wake_all(uint32_t *p) {
    syscall(SYS_futex, p, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
int csync_available_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

void csync_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static volatile sig_atomic_t interrupt_signal = 0;
static struct sigaction previous_int, previous_term;
static int installed = 0;

static void record_signal(int sig) {
    if (interrupt_signal == sig) {  /* asked twice: stop now */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    interrupt_signal = sig;
}

/* Installs the recording handler for one signal, unless the process was started with it
   ignored (a background job, nohup): then it stays ignored. */
static void install_one(int sig, struct sigaction *previous) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = record_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, NULL, previous);
    if (previous->sa_handler != SIG_IGN) sigaction(sig, &sa, NULL);
}

void csync_install_interrupt_handlers(void) {
    interrupt_signal = 0;
    install_one(SIGINT, &previous_int);
    install_one(SIGTERM, &previous_term);
    installed = 1;
    csync_unblock_interrupt_signals();
}

void csync_uninstall_interrupt_handlers(int raise_pending) {
    if (!installed) return;
    installed = 0;
    sigaction(SIGINT, &previous_int, NULL);
    sigaction(SIGTERM, &previous_term, NULL);
    /* A signal recorded but not acted on (it came after the last step) acts now. */
    int pending = interrupt_signal;
    interrupt_signal = 0;
    if (pending && raise_pending) raise(pending);
}

/* A parent may have started us with these signals blocked (posix_spawn keeps the mask). */
void csync_unblock_interrupt_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int csync_interrupt_signal(void) { return interrupt_signal; }

int csync_cpu_has_avx512f(void) {
#if defined(__x86_64__) || defined(__i386__)
    // CSync is built for the same CPU as the kernels (-march=native, -target-cpu native):
    // where that target has no AVX-512, SIMD16 code is pairs of 256-bit operations (and the
    // 8x32 tile spills), whatever the CPU it later runs on.
#if !defined(__AVX512F__)
    return 0;
#endif
    // The compiler runtime reads cpuid and, for AVX-512, also XCR0 (the OS saves zmm state).
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}
