#ifndef PATCHRNN_CHWLOC_SHIM_H
#define PATCHRNN_CHWLOC_SHIM_H
// hwloc for Swift: the library imports as is; these wrappers cover what Swift cannot see
// (enum-like macros arrive as structs, sched_getcpu is hidden behind _GNU_SOURCE).
#include <hwloc.h>

int sched_getcpu(void);

static inline int prnn_hwloc_bind_thread_to_pu(hwloc_topology_t topology, unsigned pu_os_index) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set) return -1;
    hwloc_bitmap_only(set, pu_os_index);
    int rc = hwloc_set_cpubind(topology, set, HWLOC_CPUBIND_THREAD | HWLOC_CPUBIND_STRICT);
    if (rc != 0) rc = hwloc_set_cpubind(topology, set, HWLOC_CPUBIND_THREAD);
    hwloc_bitmap_free(set);
    return rc;
}

/// The PU os index this thread is bound to when the binding is a single PU, else -1.
static inline int prnn_hwloc_bound_pu(hwloc_topology_t topology) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set) return -1;
    int result = -1;
    if (hwloc_get_cpubind(topology, set, HWLOC_CPUBIND_THREAD) == 0 && hwloc_bitmap_weight(set) == 1)
        result = hwloc_bitmap_first(set);
    hwloc_bitmap_free(set);
    return result;
}

/// The PUs this process may run on (its CPU binding: what mpirun, taskset or a cgroup gave
/// it), as a bitmap the caller frees; NULL when hwloc cannot tell.
static inline hwloc_bitmap_t prnn_hwloc_process_binding(hwloc_topology_t topology) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set) return NULL;
    if (hwloc_get_cpubind(topology, set, HWLOC_CPUBIND_PROCESS) != 0 || hwloc_bitmap_iszero(set)) {
        hwloc_bitmap_free(set);
        return NULL;
    }
    return set;
}

/// The calling thread's CPU binding (a bitmap the caller frees), or NULL.
static inline hwloc_bitmap_t prnn_hwloc_thread_binding(hwloc_topology_t topology) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set) return NULL;
    if (hwloc_get_cpubind(topology, set, HWLOC_CPUBIND_THREAD) != 0) {
        hwloc_bitmap_free(set);
        return NULL;
    }
    return set;
}

#endif
