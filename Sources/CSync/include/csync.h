#ifndef PATCHRNN_CSYNC_H
#define PATCHRNN_CSYNC_H
// The few synchronisation primitives the worker pool needs that Swift cannot express:
// futex (a variadic syscall), the spin-wait hint, and atomics on plain memory that the
// futex can also sleep on.
#include <stdint.h>
#include "cvector.h"

uint32_t csync_load(const uint32_t *p);
void csync_store(uint32_t *p, uint32_t value);
uint32_t csync_fetch_add(uint32_t *p, uint32_t value);
uint32_t csync_fetch_sub(uint32_t *p, uint32_t value);
/// Sleeps while *p == expected (returns at once otherwise, or on a spurious wake-up).
void csync_futex_wait(uint32_t *p, uint32_t expected);
void csync_futex_wake_all(uint32_t *p);
void csync_pause(void);
/// The CPUs the calling thread may run on (its affinity mask: what taskset, mpirun or a cgroup
/// left it), at least 1.
int csync_available_cpus(void);

/// Installs handlers for SIGINT, SIGTERM, SIGHUP and SIGQUIT that only record the signal, so
/// that training can finish its step, save, and exit; a second signal of the same kind ends the
/// process at once. A signal the process was started with ignored stays ignored. Clears any
/// recorded signal.
void csync_install_interrupt_handlers(void);
/// Unblocks those four signals in the calling thread (and so in the threads it starts).
void csync_unblock_interrupt_signals(void);
/// SIGQUIT back to its default action (end the process) unless it is ignored: the Swift
/// runtime catches it to print a crash report and then lets the process go on.
void csync_reset_quit_signal(void);
/// Puts back the actions the handlers replaced; with `raise_pending`, a signal recorded since
/// installation is then raised again, so it takes its normal effect.
void csync_uninstall_interrupt_handlers(int raise_pending);
/// The signal recorded since installation (0: none).
int csync_interrupt_signal(void);

/// Whether AVX-512F code runs at full width here: the build targets it, and this CPU (and the
/// OS, which must save the zmm registers) supports it. The kernels ask it, at run time, to
/// choose their GEMM tile. (cpu_check.c: from the same list as the start-up check.)
int csync_cpu_has_avx512f(void);

/// The first instruction set extension the build targets that this CPU lacks (the name
/// __builtin_cpu_supports uses), or NULL. A constructor (cpu_check.c) asks it before main and
/// exits with a message where it is not NULL.
const char *csync_missing_cpu_feature(void);

/// The instruction set extensions the build targets, space-separated, in the names
/// __builtin_cpu_supports uses ("avx2 fma ..."; empty off x86-64).
const char *csync_build_cpu_features(void);

#endif
