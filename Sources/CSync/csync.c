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

/* The signals that ask a process to stop: Ctrl-C (SIGINT), kill's default and batch
   systems' notice (SIGTERM), a closed terminal or session (SIGHUP), Ctrl-backslash (SIGQUIT). */
static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define STOP_SIGNAL_COUNT (int)(sizeof stop_signals / sizeof stop_signals[0])

static volatile sig_atomic_t interrupt_signal = 0;
static struct sigaction previous[STOP_SIGNAL_COUNT];
static int installed = 0;

static int stop_index(int sig) {
    for (int i = 0; i < STOP_SIGNAL_COUNT; i++) if (stop_signals[i] == sig) return i;
    return -1;
}

static void record_signal(int sig) {
    if (interrupt_signal == sig) {  /* asked twice: stop now, as the signal would have */
        int i = stop_index(sig);
        if (i >= 0) sigaction(sig, &previous[i], NULL);
        raise(sig);
        return;
    }
    interrupt_signal = sig;
}

void csync_install_interrupt_handlers(void) {
    interrupt_signal = 0;
    for (int i = 0; i < STOP_SIGNAL_COUNT; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = record_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(stop_signals[i], NULL, &previous[i]);
        /* A signal the process was started with ignored (nohup, a background job) stays ignored. */
        if (previous[i].sa_handler != SIG_IGN) sigaction(stop_signals[i], &sa, NULL);
    }
    installed = 1;
    csync_unblock_interrupt_signals();
}

void csync_uninstall_interrupt_handlers(int raise_pending) {
    if (!installed) return;
    installed = 0;
    for (int i = 0; i < STOP_SIGNAL_COUNT; i++) sigaction(stop_signals[i], &previous[i], NULL);
    /* A signal recorded but not acted on (it came after the last step) acts now. */
    int pending = interrupt_signal;
    interrupt_signal = 0;
    if (pending && raise_pending) raise(pending);
}

/* A parent may have started us with these signals blocked (posix_spawn keeps the mask). */
void csync_unblock_interrupt_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < STOP_SIGNAL_COUNT; i++) sigaddset(&set, stop_signals[i]);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void csync_reset_quit_signal(void) {
    struct sigaction current;
    if (sigaction(SIGQUIT, NULL, &current) == 0 && current.sa_handler != SIG_IGN) signal(SIGQUIT, SIG_DFL);
}

int csync_interrupt_signal(void) { return interrupt_signal; }
