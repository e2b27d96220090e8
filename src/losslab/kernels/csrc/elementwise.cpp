// Fused CPU kernels of two elementwise losses, compiled into the same library as
// losslab_kernels.cpp (this file adds operators with TORCH_LIBRARY_FRAGMENT). Each reads its
// inputs once and writes the loss (or only its sum) and the gradient in the same pass, so that
// backward is one multiply by the saved gradient.
//
// hinge_fwd: z = m - y s (the reference's addcmul), loss = max(z, 0) or max(z, 0)^2, with
//
//   d/d s = -y [z >= 0]          (hinge; at the kink z = 0 the reference's clamp_min passes the
//                                 gradient, so the subgradient there is -y, not 0)
//   d/d s = -2 y max(z, 0)       (squared hinge)
//
// The labels (int64, or floating of the scores' dtype) are checked to be +-1 in the same pass
// (NaN fails): the third output is 1 if any is not, and the caller raises its usual error.
//
// log_cosh_fwd: a = |p - t|, loss = a + log1p(e^{-2a}) - log 2 (softplus(-2a) never reaches
// torch's threshold, so this is the reference's value), and
//
//   d/d p = sign(p - t) (1 - 2 e^{-2a} / (e^{-2a} + 1)) = tanh(p - t),  d/d t = -d/d p
//
// in the reference's order of operations (softplus_backward at an incoming gradient of 1).
// Sums are taken in double over blocks summed in the input's dtype.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include "output_buffers.h"
#include "vec_sum.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

namespace losslab_elementwise {

using at::vec::Vectorized;

constexpr int64_t kBlock = 2048;  // elements summed in the input's dtype before adding to a double

using losslab_kernels::hsum;

// Labels as a vector of scalar_t, and whether any of the m loaded is not exactly +-1 (NaN is not).
template <typename scalar_t, typename label_t>
inline Vectorized<scalar_t> load_labels(const label_t* y, int64_t m, bool& bad) {
  using Vec = Vectorized<scalar_t>;
  constexpr int64_t W = Vec::size();
  int any = 0;
  for (int64_t k = 0; k < m; ++k) any |= !(y[k] == label_t(1) || y[k] == label_t(-1));
  bad = bad || any;
  if constexpr (std::is_same<label_t, scalar_t>::value) {
    return m == W ? Vec::loadu(y) : Vec::loadu(y, m);
  } else {
    scalar_t buf[W] = {};
    for (int64_t k = 0; k < m; ++k) buf[k] = scalar_t(y[k]);
    return Vec::loadu(buf);
  }
}

struct SumBad {
  double sum;
  bool bad;
};

template <typename scalar_t, typename label_t, bool Squared>
SumBad hinge_kernel(const scalar_t* s, const label_t* y, scalar_t* loss, scalar_t* grad, int64_t n, double margin,
                    bool check) {
  using Vec = Vectorized<scalar_t>;
  constexpr int64_t W = Vec::size();
  const Vec mv = Vec(scalar_t(margin)), zero = Vec(scalar_t(0));
  return at::parallel_reduce(
      0, n, 1 << 15, SumBad{0.0, false},
      [&](int64_t i0, int64_t i1, SumBad acc) {
        bool bad = false;
        for (int64_t b0 = i0; b0 < i1; b0 += kBlock) {
          const int64_t b1 = std::min(i1, b0 + kBlock);
          Vec sum(0);
          for (int64_t i = b0; i < b1; i += W) {
            const int64_t m = std::min<int64_t>(W, b1 - i);
            Vec sv = m == W ? Vec::loadu(s + i) : Vec::loadu(s + i, m);
            Vec yv = load_labels<scalar_t, label_t>(y + i, m, bad);
            Vec z = mv - yv * sv;
            Vec c = Vec::blendv(z, zero, z < zero);  // max(z, 0), NaN kept
            Vec on = z >= zero;                         // where the reference's clamp_min passes the gradient
            Vec l = Squared ? c * c : c;
            if (loss) l.store(loss + i, m);
            else sum = sum + (m == W ? l : Vec::set(zero, l, m));
            if (grad) {
              Vec g = Squared ? (c + c) * yv.neg() : yv.neg();
              Vec::blendv(zero, g, on).store(grad + i, m);
            }
          }
          if (!loss) acc.sum += hsum(sum);
        }
        acc.bad = acc.bad || (check && bad);
        return acc;
      },
      [](SumBad a, SumBad b) { return SumBad{a.sum + b.sum, a.bad || b.bad}; });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> hinge_fwd(const at::Tensor& scores, const at::Tensor& target,
                                                        double margin, bool squared, bool check_labels,
                                                        bool need_grad, bool sum_only) {
  TORCH_CHECK(target.sizes() == scores.sizes(), "hinge_fwd: scores and target shapes differ: ", scores.sizes(),
              " and ", target.sizes());
  TORCH_CHECK(scores.device().is_cpu() && target.device().is_cpu(), "hinge_fwd: CPU tensors only");
  TORCH_CHECK(scores.scalar_type() == at::kFloat || scores.scalar_type() == at::kDouble,
              "hinge_fwd: float32 or float64 scores only; got ", scores.scalar_type());
  TORCH_CHECK(target.scalar_type() == at::kLong || target.scalar_type() == scores.scalar_type(),
              "hinge_fwd: target must be int64 or of the scores' dtype; got ", target.scalar_type());
  at::Tensor s = scores.contiguous(), y = target.contiguous();
  at::Tensor loss = sum_only ? at::zeros({}, s.options()) : losslab_kernels::empty_output(s);
  at::Tensor grad = need_grad ? losslab_kernels::empty_output(s) : at::empty({0}, s.options());
  at::Tensor bad = at::zeros({}, s.options().dtype(at::kLong));
  const int64_t n = s.numel();
  if (n == 0) return {loss, grad, bad};
  AT_DISPATCH_FLOATING_TYPES(s.scalar_type(), "hinge_fwd", [&] {
    scalar_t* lp = sum_only ? nullptr : loss.data_ptr<scalar_t>();
    scalar_t* gp = need_grad ? grad.data_ptr<scalar_t>() : nullptr;
    const scalar_t* sp = s.data_ptr<scalar_t>();
    SumBad r;
    if (y.scalar_type() == at::kLong) {
      const int64_t* yp = y.data_ptr<int64_t>();
      r = squared ? hinge_kernel<scalar_t, int64_t, true>(sp, yp, lp, gp, n, margin, check_labels)
                  : hinge_kernel<scalar_t, int64_t, false>(sp, yp, lp, gp, n, margin, check_labels);
    } else {
      const scalar_t* yp = y.data_ptr<scalar_t>();
      r = squared ? hinge_kernel<scalar_t, scalar_t, true>(sp, yp, lp, gp, n, margin, check_labels)
                  : hinge_kernel<scalar_t, scalar_t, false>(sp, yp, lp, gp, n, margin, check_labels);
    }
    if (sum_only) loss.fill_(r.sum);
    bad.fill_(int64_t(r.bad));
  });
  return {loss, grad, bad};
}

template <typename scalar_t>
double log_cosh_kernel(const scalar_t* p, const scalar_t* t, scalar_t* loss, scalar_t* gp, scalar_t* gt, int64_t n) {
  using Vec = Vectorized<scalar_t>;
  constexpr int64_t W = Vec::size();
  const Vec zero(scalar_t(0)), one(scalar_t(1)), mtwo(scalar_t(-2));
  const Vec log2(scalar_t(0.6931471805599453));  // the reference subtracts float(math.log(2)) in its dtype
  return at::parallel_reduce(
      0, n, 1 << 14, 0.0,
      [&](int64_t i0, int64_t i1, double acc) {
        for (int64_t b0 = i0; b0 < i1; b0 += kBlock) {
          const int64_t b1 = std::min(i1, b0 + kBlock);
          Vec sum(0);
          for (int64_t i = b0; i < b1; i += W) {
            const int64_t m = std::min<int64_t>(W, b1 - i);
            Vec pv = m == W ? Vec::loadu(p + i) : Vec::loadu(p + i, m);
            Vec tv = m == W ? Vec::loadu(t + i) : Vec::loadu(t + i, m);
            Vec d = pv - tv;
            Vec a = d.abs();
            Vec z = (a * mtwo).exp();
            Vec l = (a + z.log1p()) - log2;
            if (loss) l.store(loss + i, m);
            else sum = sum + (m == W ? l : Vec::set(zero, l, m));
            if (gp || gt) {
              // sign as torch.sign computes it (0 at 0 and at NaN), times the reference's chain
              Vec sg = Vec::blendv(zero, one, zero < d) - Vec::blendv(zero, one, d < zero);
              Vec g = (one + (z / (z + one)) * mtwo) * sg;
              if (gp) g.store(gp + i, m);
              if (gt) g.neg().store(gt + i, m);
            }
          }
          if (!loss) acc += hsum(sum);
        }
        return acc;
      },
      [](double a, double b) { return a + b; });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> log_cosh_fwd(const at::Tensor& pred, const at::Tensor& target,
                                                           bool need_pred_grad, bool need_target_grad, bool sum_only) {
  TORCH_CHECK(target.sizes() == pred.sizes(), "log_cosh_fwd: pred and target shapes differ: ", pred.sizes(), " and ",
              target.sizes());
  TORCH_CHECK(pred.scalar_type() == target.scalar_type(), "log_cosh_fwd: dtypes differ");
  TORCH_CHECK(pred.device().is_cpu() && target.device().is_cpu(), "log_cosh_fwd: CPU tensors only");
  TORCH_CHECK(pred.scalar_type() == at::kFloat || pred.scalar_type() == at::kDouble,
              "log_cosh_fwd: float32 or float64 only; got ", pred.scalar_type());
  at::Tensor p = pred.contiguous(), t = target.contiguous();
  at::Tensor loss = sum_only ? at::zeros({}, p.options()) : losslab_kernels::empty_output(p);
  at::Tensor gp = need_pred_grad ? losslab_kernels::empty_output(p) : at::empty({0}, p.options());
  at::Tensor gt = need_target_grad ? losslab_kernels::empty_output(p) : at::empty({0}, p.options());
  if (p.numel() == 0) return {loss, gp, gt};
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "log_cosh_fwd", [&] {
    double total = log_cosh_kernel<scalar_t>(p.data_ptr<scalar_t>(), t.data_ptr<scalar_t>(),
                                             sum_only ? nullptr : loss.data_ptr<scalar_t>(),
                                             need_pred_grad ? gp.data_ptr<scalar_t>() : nullptr,
                                             need_target_grad ? gt.data_ptr<scalar_t>() : nullptr, p.numel());
    if (sum_only) loss.fill_(total);
  });
  return {loss, gp, gt};
}

}  // namespace losslab_elementwise

TORCH_LIBRARY_FRAGMENT(losslab, m) {
  m.def(
      "hinge_fwd(Tensor scores, Tensor target, float margin, bool squared, bool check_labels, bool need_grad, "
      "bool sum_only=False) -> (Tensor, Tensor, Tensor)");
  m.def(
      "log_cosh_fwd(Tensor pred, Tensor target, bool need_pred_grad, bool need_target_grad, bool sum_only=False) "
      "-> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(losslab, CPU, m) {
  m.impl("hinge_fwd", &losslab_elementwise::hinge_fwd);
  m.impl("log_cosh_fwd", &losslab_elementwise::log_cosh_fwd);
}
