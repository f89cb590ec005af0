// The consumer's use of invar::mpi (built where the component is there): the loss of a batch
// held by MPI ranks. Compiled and linked by scripts/check-consumer.sh; run it under mpirun.
#include <cstdio>

#include <invar/cpu.hpp>
#include <invar/distributed/mpi_communicator.hpp>
#include <invar/losses/group_invariance.hpp>
#include <invar/metrics/squared_euclidean.hpp>

int main(int argc, char** argv) {
  invar::distributed::MpiSession mpi(argc, argv);
  const invar::distributed::MpiCommunicator world;
  invar::Tensor<float> x(invar::Shape{4, 3});
  invar::Tensor<invar::index_t> ids(invar::Shape{4});
  for (invar::index_t i = 0; i < x.numel(); ++i) x[i] = float(i % 5) + float(world.rank());
  for (invar::index_t i = 0; i < 4; ++i) ids[i] = i % 2;
  const auto v = invar::augmentation_invariance(invar::SquaredEuclidean{}, x, ids, invar::no_gradient,
                                                invar::GroupLossOptions{}.across(world));
  if (world.rank() == 0) std::printf("loss over %d ranks: %g\n", world.size(), v.value);
  return 0;
}
