// The MPI transport of `acim sweep` (tools/acim/mpi/sweep_mpi.cpp), built as a plug-in that acim
// loads with dlopen only when an MPI launcher started it, so that acim itself neither needs
// OpenMPI's libraries installed nor loads them on every run (measured in docs/SWEEPS.md). A C
// table of functions, so the plug-in's ABI is plain.
#pragma once

#include <cstdint>

extern "C" {

struct AcimSweepMpi {
  // MPI_Init; this process's rank and the number of ranks.
  void (*init)(int* rank, int* ranks);
  void (*finalize)();
  void (*abort)(int code);  // MPI_Abort: ends every rank
  // Rank 0 -> worker: a point index (-1: stop).
  void (*send_point)(int worker, int64_t index);
  int64_t (*recv_point)();
  // Worker -> rank 0: a result (bytes).
  void (*send_result)(const char* bytes, int size);
  // Rank 0: a result from any worker if one has arrived, else -1 at once. Waits are polls with
  // short sleeps on both sides: OpenMPI's blocking receive spins on a core another rank needs.
  // Returns the worker's rank; the bytes are malloc'd (*bytes, *size), freed by the caller.
  int (*poll_result)(char** bytes, int* size);
};

// The plug-in's one exported symbol.
const AcimSweepMpi* acim_sweep_mpi();
}

// The plug-in's file name, looked up beside the acim executable.
inline constexpr const char* kAcimSweepMpiPlugin = "libacim_sweep_mpi.so";
