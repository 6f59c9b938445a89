#include "csync.h"
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
void csync_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static volatile sig_atomic_t interrupt_signal = 0;

static void record_signal(int sig) {
    if (interrupt_signal == sig) {  /* asked twice: stop now */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    interrupt_signal = sig;
}

void csync_install_interrupt_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = record_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    csync_unblock_interrupt_signals();
}

/* A parent may have started us with these signals blocked (posix_spawn keeps the mask). */
void csync_unblock_interrupt_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void csync_restore_default_signals(void) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

int csync_interrupt_signal(void) { return interrupt_signal; }
