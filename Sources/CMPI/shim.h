#ifndef PATCHRNN_CMPI_SHIM_H
#define PATCHRNN_CMPI_SHIM_H
// Open MPI for Swift, only in builds with the MPI trait. The library's functions import as
// they are; its handles are macros over global objects (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM,
// MPI_IN_PLACE ...), which Swift cannot see, so these functions hand them over.
#include <mpi.h>

static inline MPI_Comm prnn_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype prnn_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype prnn_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype prnn_mpi_int(void) { return MPI_INT; }
static inline MPI_Datatype prnn_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op prnn_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op prnn_mpi_sum(void) { return MPI_SUM; }
static inline void *prnn_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int prnn_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int prnn_mpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }

#endif
