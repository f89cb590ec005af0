// The doctest runner of invar_mpi_tests, started by mpirun (ctest: -np 2 and -np 3): MPI is
// initialised around the run, every rank runs every case, and every rank exits with failure when
// any rank failed (so that mpirun reports it whichever rank it was).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <mpi.h>

#include "invar/distributed/mpi_communicator.hpp"

int main(int argc, char** argv) {
  invar::distributed::MpiSession mpi(argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  doctest::Context context(argc, argv);
  if (rank != 0) context.setOption("no-version", true);
  int rc = context.run();
  if (context.shouldExit()) return rc;
  int worst = rc;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return worst;
}
