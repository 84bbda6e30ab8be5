// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE, ...) are
// macros over addresses of global structs, which Swift cannot import: expose
// them as static inline getters.
#ifndef GENTRAIN_CMPI_SHIM_H
#define GENTRAIN_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm gentrain_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm gentrain_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype gentrain_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype gentrain_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype gentrain_mpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype gentrain_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype gentrain_mpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Datatype gentrain_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op gentrain_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op gentrain_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op gentrain_mpi_min(void) { return MPI_MIN; }
static inline void *gentrain_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler gentrain_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Request gentrain_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *gentrain_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline int gentrain_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int gentrain_mpi_success(void) { return MPI_SUCCESS; }
#endif
