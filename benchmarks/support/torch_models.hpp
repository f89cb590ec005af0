#pragma once
// libtorch twins of invar's reference networks for the benchmarks (compiled only where libtorch
// is, INVAR_HAVE_TORCH): the same layers in the same order, so a time ratio compares
// implementations, not architectures.
#include <torch/torch.h>

namespace invar::bench {

/// All-CNN-C with batch norm after every conv and the 'valid' top conv (the original; invar's
/// AllCnnOptions{}.with_top_padding(TopConvPadding::valid)), 10 classes.
inline torch::nn::Sequential torch_all_cnn() {
  struct Spec {
    int out, kernel, stride, padding;
  };
  const Spec specs[9] = {{96, 3, 1, 1},  {96, 3, 1, 1},  {96, 3, 2, 1},  {192, 3, 1, 1}, {192, 3, 1, 1},
                         {192, 3, 2, 1}, {192, 3, 1, 0}, {192, 1, 1, 0}, {10, 1, 1, 0}};
  torch::nn::Sequential s;
  int in = 3;
  for (const auto& sp : specs) {
    s->push_back(torch::nn::Conv2d(
        torch::nn::Conv2dOptions(in, sp.out, sp.kernel).stride(sp.stride).padding(sp.padding).bias(false)));
    s->push_back(torch::nn::BatchNorm2d(sp.out));
    s->push_back(torch::nn::ReLU());
    in = sp.out;
  }
  s->push_back(torch::nn::AdaptiveAvgPool2d(1));
  s->push_back(torch::nn::Flatten());
  return s;
}

}  // namespace invar::bench
