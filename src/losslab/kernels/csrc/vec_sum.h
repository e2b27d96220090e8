// The horizontal sum of one ATen vector, accumulated in double: how every kernel turns its
// per-lane partial sums into a row's (or a block's) total.
#pragma once

#include <ATen/cpu/vec/vec.h>

namespace losslab_kernels {

template <typename scalar_t>
inline double hsum(const at::vec::Vectorized<scalar_t>& v) {
  scalar_t buf[at::vec::Vectorized<scalar_t>::size()];
  v.store(buf);
  double s = 0;
  for (int i = 0; i < at::vec::Vectorized<scalar_t>::size(); ++i) s += buf[i];
  return s;
}

}  // namespace losslab_kernels
