// The MPI transport of `acim sweep` (see ../sweep_mpi.hpp): point indices out, results back,
// over MPI_COMM_WORLD with the C API.
// The C API only: OpenMPI's mpi.h would otherwise pull in its deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#include "../sweep_mpi.hpp"

#include <mpi.h>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace {

constexpr int kTagPoint = 1;
constexpr int kTagResult = 2;

void init(int* rank, int* ranks) {
  MPI_Init(nullptr, nullptr);
  MPI_Comm_rank(MPI_COMM_WORLD, rank);
  MPI_Comm_size(MPI_COMM_WORLD, ranks);
}

void finalize() {
  MPI_Finalize();
}

[[noreturn]] void abort_all(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

void send_point(int worker, int64_t index) {
  MPI_Send(&index, 1, MPI_INT64_T, worker, kTagPoint, MPI_COMM_WORLD);
}

// Polls rather than blocks: OpenMPI's blocking receive spins on its core, which rank 0 may need
// for a point of its own while this worker waits for the next index (or the stop).
int64_t recv_point() {
  int arrived = 0;
  while (MPI_Iprobe(0, kTagPoint, MPI_COMM_WORLD, &arrived, MPI_STATUS_IGNORE) == MPI_SUCCESS &&
         !arrived)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  int64_t index = -1;
  MPI_Recv(&index, 1, MPI_INT64_T, 0, kTagPoint, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return index;
}

void send_result(const char* bytes, int size) {
  MPI_Send(bytes, size, MPI_CHAR, 0, kTagResult, MPI_COMM_WORLD);
}

int poll_result(char** bytes, int* size) {
  MPI_Status st;
  int arrived = 0;
  MPI_Iprobe(MPI_ANY_SOURCE, kTagResult, MPI_COMM_WORLD, &arrived, &st);
  if (!arrived) return -1;
  MPI_Get_count(&st, MPI_CHAR, size);
  *bytes = static_cast<char*>(std::malloc(static_cast<size_t>(*size) + 1));
  MPI_Recv(*bytes, *size, MPI_CHAR, st.MPI_SOURCE, kTagResult, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return st.MPI_SOURCE;
}

const AcimSweepMpi kTable = {init,       finalize,    abort_all,  send_point,
                             recv_point, send_result, poll_result};

}  // namespace

extern "C" const AcimSweepMpi* acim_sweep_mpi() {
  return &kTable;
}
