// Fused CPU kernels for losslab (one translation unit, built on first use by
// losslab/kernels/__init__.py with torch.utils.cpp_extension.load).
//
// composite_softmax_fwd: the composite-Softmax selective matching loss of seed 000,
// eq. (29) with gamma as in (C.3)-(C.5), and its gradients, in one call:
//
//   Q-logits   l_k(z) = Q(z_k) / gamma,   Q(z) = c [G(x_c) + g(x_c)(x - x_c)] / alpha,
//              x = alpha (z - beta),  x_c = clamp(x, -cap, cap),  q(z) = c g(x_c)
//   H(z)       = gamma * logsumexp_k l_k(z)                                   (C.4)
//   loss       = H(pred) - H(target) - sum_k (pred_k - target_k) q(target_k) p_k(target)   (29)
//   d/d pred   = q(pred_k) p_k(pred) - q(target_k) p_k(target)                (30)
//   d/d target = -[Hess H(target)] (pred - target)                            (B.2 with gamma)
//
// Per row: pass 1 reads pred and target once (min and max only); pass 2 computes the
// link, one exponential per element for the softmax and one for the exp-type links
// (sinh and cosh share it: e and 1/e), accumulates the partition functions and the
// linear term, and writes q(pred) e^(l - m) into the gradient row; pass 3 rescales the
// gradient row in cache. Rows of 32K floats (2 x 128 KB plus a 128 KB scratch row)
// stay in L2 between passes, so memory traffic is one read of each input and one
// write of the gradient.
//
// The max-shift needs max_k l_k. Every supported Q is convex (identity, exp,
// anti_exp, sinh's cosh) or monotone (cosh's sinh), also once continued linearly past
// a cap, so its maximum over a row is at the row's smallest or largest score: pass 1
// needs no exponential.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include "output_buffers.h"
#include "scaling_link.h"
#include "vec_sum.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace losslab_kernels {

using at::vec::Vectorized;



template <typename scalar_t, Shape S, bool Capped>
void composite_softmax_rows(
    const scalar_t* pred,
    const scalar_t* target,
    scalar_t* loss,
    scalar_t* grad_pred,
    scalar_t* grad_target,
    int64_t rows,
    int64_t K,
    const Link<scalar_t, S, Capped>& link,
    double gamma) {
  using Vec = Vectorized<scalar_t>;
  constexpr int64_t W = Vec::size();
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(K, 1));
  at::parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    // Two scratch rows, reused across rows and so resident in L2: the unnormalised
    // gradient terms of pred and of target; pass 3 combines them into the gradient row.
    std::vector<scalar_t> scratch(grad_pred ? 2 * K : 0);
    scalar_t* su = scratch.data();
    scalar_t* sv = grad_pred ? scratch.data() + K : nullptr;
    const Vec zero(scalar_t(0));
    for (int64_t r = r0; r < r1; ++r) {
      const scalar_t* ph = pred + r * K;
      const scalar_t* ps = target + r * K;
      scalar_t* gp = grad_pred ? grad_pred + r * K : nullptr;
      scalar_t* gt = grad_target ? grad_target + r * K : nullptr;

      // Pass 1: the row's score range gives the max Q-logit (see the header comment).
      scalar_t mnh, mxh, mns, mxs;
      row_ranges(ph, ps, K, mnh, mxh, mns, mxs);
      const scalar_t lmnh = link.logit(mnh), lmxh = link.logit(mxh);
      const scalar_t lmns = link.logit(mns), lmxs = link.logit(mxs);
      scalar_t mh = std::max(lmnh, lmxh);
      scalar_t ms = std::max(lmns, lmxs);
      // As torch.logsumexp: an infinite max is not subtracted.
      if (!std::isfinite(mh)) mh = 0;
      if (!std::isfinite(ms)) ms = 0;
      const Vec vmh(mh), vms(ms);
      const bool fast = link.fast_row(mnh, mxh, lmnh, lmxh) && link.fast_row(mns, mxs, lmns, lmxs);

      // Pass 2: partition functions, linear term, unnormalised gradient terms.
      Vec Sh(0), Ss(0), lin(0);
      auto step = [&](int64_t k, int64_t n, auto fast_tag) {
        constexpr bool Fast = decltype(fast_tag)::value;
        Vec zh = n == W ? Vec::loadu(ph + k) : Vec::loadu(ph + k, n);
        Vec zs = n == W ? Vec::loadu(ps + k) : Vec::loadu(ps + k, n);
        Vec lh, qh, ls, qs;
        link.template eval<Fast>(zh, lh, qh);
        link.template eval<Fast>(zs, ls, qs);
        Vec eh = (lh - vmh).exp_u20();
        Vec es = (ls - vms).exp_u20();
        Vec vs = qs * es;
        Vec dl = (zh - zs) * vs;
        if (n != W) {  // the tail's padding lanes contribute nothing
          eh = Vec::set(zero, eh, n);
          es = Vec::set(zero, es, n);
          dl = Vec::set(zero, dl, n);
        }
        Sh = Sh + eh;
        Ss = Ss + es;
        lin = lin + dl;
        if (gp) {
          (qh * eh).store(su + k, n);
          vs.store(sv + k, n);
        }
      };
      auto pass2 = [&](auto fast_tag) {
        int64_t k = 0;
        for (; k + W <= K; k += W) step(k, W, fast_tag);
        if (k < K) step(k, K - k, fast_tag);
      };
      if (fast) {
        pass2(std::true_type{});
      } else {
        pass2(std::false_type{});
      }

      const double sh = hsum(Sh), ss = hsum(Ss), ln = hsum(lin);
      loss[r] = scalar_t(gamma * (std::log(sh) + double(mh)) - gamma * (std::log(ss) + double(ms)) - ln / ss);

      // Pass 3: eq. (30), normalised from the scratch rows; the gradient row is written
      // once, with streaming stores.
      if (gp) {
        const Vec ih(scalar_t(1.0 / sh)), is(scalar_t(1.0 / ss));
        int64_t j = 0;
        for (; j + W <= K; j += W) {
          Vec u = Vec::loadu(su + j), v = Vec::loadu(sv + j);
          stream_store(gp + j, u * ih - v * is);
        }
        for (; j < K; ++j) gp[j] = su[j] * scalar_t(1.0 / sh) - sv[j] * scalar_t(1.0 / ss);
      }
      // d/d target = -p_j [q'_j d_j + q_j (q_j d_j - A) / gamma],  d = pred - target,
      // A = sum_k p_k q_k d_k = lin / S(target): the Hessian-vector product of (B.2).
      if (gt) {
        const Vec is(scalar_t(1.0 / ss)), A(scalar_t(ln / ss)), ig(scalar_t(1.0 / gamma));
        auto tstep = [&](int64_t j, int64_t n) {
          Vec zh = n == W ? Vec::loadu(ph + j) : Vec::loadu(ph + j, n);
          Vec zs = n == W ? Vec::loadu(ps + j) : Vec::loadu(ps + j, n);
          Vec ls, qs, qps;
          link(zs, ls, qs, &qps);
          Vec p = (ls - vms).exp_u20() * is;
          Vec d = zh - zs;
          Vec g = (p * (qps * d + qs * (qs * d - A) * ig)).neg();
          g.store(gt + j, n);
        };
        int64_t j = 0;
        for (; j + W <= K; j += W) tstep(j, W);
        if (j < K) tstep(j, K - j);
      }
    }
    streaming_fence();
  });
}

template <typename scalar_t, Shape S>
void dispatch_cap(
    const at::Tensor& pred, const at::Tensor& target, at::Tensor& loss, at::Tensor& gp, at::Tensor& gt,
    double alpha, double beta, double cap, double scale, double gamma) {
  const int64_t K = pred.size(1), rows = pred.size(0);
  scalar_t* gpp = gp.numel() ? gp.data_ptr<scalar_t>() : nullptr;
  scalar_t* gtp = gt.numel() ? gt.data_ptr<scalar_t>() : nullptr;
  if (std::isfinite(cap)) {
    Link<scalar_t, S, true> link(alpha, beta, cap, scale, gamma);
    composite_softmax_rows<scalar_t, S, true>(
        pred.data_ptr<scalar_t>(), target.data_ptr<scalar_t>(), loss.data_ptr<scalar_t>(), gpp, gtp, rows, K, link, gamma);
  } else {
    Link<scalar_t, S, false> link(alpha, beta, cap, scale, gamma);
    composite_softmax_rows<scalar_t, S, false>(
        pred.data_ptr<scalar_t>(), target.data_ptr<scalar_t>(), loss.data_ptr<scalar_t>(), gpp, gtp, rows, K, link, gamma);
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> composite_softmax_fwd(
    const at::Tensor& pred,
    const at::Tensor& target,
    c10::string_view shape,
    double alpha,
    double beta,
    double cap,
    double scale,
    double gamma,
    bool need_pred_grad,
    bool need_target_grad) {
  TORCH_CHECK(pred.dim() == 2 && target.sizes() == pred.sizes(),
              "composite_softmax_fwd: pred and target must be [rows, K] of one shape; got ",
              pred.sizes(), " and ", target.sizes());
  TORCH_CHECK(pred.scalar_type() == target.scalar_type(), "composite_softmax_fwd: dtypes differ");
  TORCH_CHECK(pred.device().is_cpu() && target.device().is_cpu(), "composite_softmax_fwd: CPU tensors only");
  TORCH_CHECK(pred.scalar_type() == at::kFloat || pred.scalar_type() == at::kDouble,
              "composite_softmax_fwd: float32 or float64 only; got ", pred.scalar_type());
  TORCH_CHECK(pred.size(1) > 0, "composite_softmax_fwd: K must be positive");
  TORCH_CHECK(alpha > 0 && gamma > 0 && scale > 0 && cap > 0,
              "composite_softmax_fwd: alpha, gamma, scale and cap must be positive");
  const Shape S = parse_shape(std::string(shape), "composite_softmax_fwd");
  at::Tensor p = pred.contiguous(), t = target.contiguous();
  at::Tensor loss = at::empty({p.size(0)}, p.options());
  at::Tensor gp = need_pred_grad ? empty_output(p) : at::empty({0}, p.options());
  at::Tensor gt = need_target_grad ? empty_output(p) : at::empty({0}, p.options());
  if (p.size(0) == 0) return {loss, gp, gt};
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "composite_softmax_fwd", [&] {
    switch (S) {
      case Shape::Identity: dispatch_cap<scalar_t, Shape::Identity>(p, t, loss, gp, gt, alpha, beta, cap, scale, gamma); break;
      case Shape::Exp: dispatch_cap<scalar_t, Shape::Exp>(p, t, loss, gp, gt, alpha, beta, cap, scale, gamma); break;
      case Shape::AntiExp: dispatch_cap<scalar_t, Shape::AntiExp>(p, t, loss, gp, gt, alpha, beta, cap, scale, gamma); break;
      case Shape::Sinh: dispatch_cap<scalar_t, Shape::Sinh>(p, t, loss, gp, gt, alpha, beta, cap, scale, gamma); break;
      case Shape::Cosh: dispatch_cap<scalar_t, Shape::Cosh>(p, t, loss, gp, gt, alpha, beta, cap, scale, gamma); break;
    }
  });
  return {loss, gp, gt};
}

// composite_softmax_fwd_inplace_: the loss rows, with the gradient of pred written over pred
// itself (no [rows, K] allocation). Alias-safe because every pass reads pred[k] before the
// gradient of element k is stored there (pass 2) and pass 3 reads only the gradient row; the
// target's gradient, which rereads pred, is not offered.
at::Tensor composite_softmax_fwd_inplace_(
    at::Tensor& pred,
    const at::Tensor& target,
    c10::string_view shape,
    double alpha,
    double beta,
    double cap,
    double scale,
    double gamma) {
  TORCH_CHECK(pred.is_contiguous(), "composite_softmax_fwd_inplace_: pred must be contiguous");
  TORCH_CHECK(pred.dim() == 2 && target.sizes() == pred.sizes(),
              "composite_softmax_fwd_inplace_: pred and target must be [rows, K] of one shape; got ",
              pred.sizes(), " and ", target.sizes());
  TORCH_CHECK(pred.scalar_type() == target.scalar_type(), "composite_softmax_fwd_inplace_: dtypes differ");
  TORCH_CHECK(pred.device().is_cpu() && target.device().is_cpu(), "composite_softmax_fwd_inplace_: CPU tensors only");
  TORCH_CHECK(pred.scalar_type() == at::kFloat || pred.scalar_type() == at::kDouble,
              "composite_softmax_fwd_inplace_: float32 or float64 only; got ", pred.scalar_type());
  TORCH_CHECK(pred.size(1) > 0, "composite_softmax_fwd_inplace_: K must be positive");
  TORCH_CHECK(alpha > 0 && gamma > 0 && scale > 0 && cap > 0,
              "composite_softmax_fwd_inplace_: alpha, gamma, scale and cap must be positive");
  const Shape S = parse_shape(std::string(shape), "composite_softmax_fwd");
  at::Tensor t = target.contiguous();
  at::Tensor loss = at::empty({pred.size(0)}, pred.options());
  at::Tensor gt = at::empty({0}, pred.options());
  if (pred.size(0) == 0) return loss;
  AT_DISPATCH_FLOATING_TYPES(pred.scalar_type(), "composite_softmax_fwd_inplace_", [&] {
    switch (S) {
      case Shape::Identity: dispatch_cap<scalar_t, Shape::Identity>(pred, t, loss, pred, gt, alpha, beta, cap, scale, gamma); break;
      case Shape::Exp: dispatch_cap<scalar_t, Shape::Exp>(pred, t, loss, pred, gt, alpha, beta, cap, scale, gamma); break;
      case Shape::AntiExp: dispatch_cap<scalar_t, Shape::AntiExp>(pred, t, loss, pred, gt, alpha, beta, cap, scale, gamma); break;
      case Shape::Sinh: dispatch_cap<scalar_t, Shape::Sinh>(pred, t, loss, pred, gt, alpha, beta, cap, scale, gamma); break;
      case Shape::Cosh: dispatch_cap<scalar_t, Shape::Cosh>(pred, t, loss, pred, gt, alpha, beta, cap, scale, gamma); break;
    }
  });
  return loss;
}


// matching_sigmoid_fwd: the matching loss of the sigmoid link h = c*sigma(x),
// x = alpha (z - beta) (seed 000, eq. 2-4), elementwise, with its gradients:
//
//   loss       = c/alpha * KL(Bern sigma(x) || Bern sigma(x_hat))
//              = c/alpha * { sigma(x) [min(x,0) - min(x_hat,0)] + sigma(-x) [min(-x,0) - min(-x_hat,0)]
//                            + sp(x_hat) - sp(x) },   sp(u) = log1p(e^{-|u|})
//   d/d pred   = c [sigma(x_hat) - sigma(x)]                      (eq. 1)
//   d/d target = -c alpha (pred - target) sigma(x) sigma(-x)
//
// (log sigma(u) = min(u,0) - sp(u), and sigma(x) + sigma(-x) = 1.) One exp and one
// log1p per element per input: e = e^{-|u|} gives sigma(|u|) = 1/(1+e), sigma(-|u|) = e/(1+e).
// With sum_only the loss is not stored per element: the call returns its sum (for the
// 'mean' and 'sum' reductions), so the forward+backward holds one tensor of the input's
// size, the gradient.
template <typename scalar_t>
double matching_sigmoid_kernel(
    const scalar_t* pred, const scalar_t* target, scalar_t* loss, scalar_t* gp, scalar_t* gt, int64_t n,
    double alpha_, double beta_, double scale_) {
  using Vec = Vectorized<scalar_t>;
  constexpr int64_t W = Vec::size();
  const Vec alpha = Vec(scalar_t(alpha_)), beta = Vec(scalar_t(beta_)), one = Vec(scalar_t(1)), zero = Vec(scalar_t(0));
  const Vec c = Vec(scalar_t(scale_)), c_over_a = Vec(scalar_t(scale_ / alpha_)), c_alpha = Vec(scalar_t(scale_ * alpha_));
  // sigma(u), sigma(-u) and sp(u) = log1p(e^{-|u|}) of one vector.
  auto parts = [&](const Vec& u, Vec& s_pos, Vec& s_neg, Vec& sp) {
    Vec e = u.abs().neg().exp();
    Vec r = one / (one + e);  // sigma(|u|)
    Vec re = e * r;           // sigma(-|u|)
    Vec pos = u >= zero;      // all-ones lanes where u >= 0
    s_pos = Vec::blendv(re, r, pos);
    s_neg = Vec::blendv(r, re, pos);
    sp = e.log1p();
  };
  return at::parallel_reduce(0, n, 1 << 15, 0.0, [&](int64_t i0, int64_t i1, double acc) {
    Vec sum(0);
    auto step = [&](int64_t i, int64_t m) {
      Vec zh = m == W ? Vec::loadu(pred + i) : Vec::loadu(pred + i, m);
      Vec zs = m == W ? Vec::loadu(target + i) : Vec::loadu(target + i, m);
      Vec xh = (zh - beta) * alpha, xs = (zs - beta) * alpha;
      Vec ph, qh, sph, ps, qs, sps;
      parts(xh, ph, qh, sph);
      parts(xs, ps, qs, sps);
      Vec kl = (ps * (at::vec::minimum(xs, zero) - at::vec::minimum(xh, zero)) +
                qs * (at::vec::minimum(xs.neg(), zero) - at::vec::minimum(xh.neg(), zero)) + (sph - sps)) *
               c_over_a;
      if (loss) {
        kl.store(loss + i, m);
      } else {
        sum = sum + (m == W ? kl : Vec::set(zero, kl, m));
      }
      if (gp) ((ph - ps) * c).store(gp + i, m);
      if (gt) ((zh - zs) * ps * qs * c_alpha).neg().store(gt + i, m);
    };
    int64_t i = i0;
    for (; i + W <= i1; i += W) step(i, W);
    if (i < i1) step(i, i1 - i);
    return acc + (loss ? 0.0 : hsum(sum));
  }, [](double a, double b) { return a + b; });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> matching_sigmoid_fwd(
    const at::Tensor& pred,
    const at::Tensor& target,
    double alpha,
    double beta,
    double scale,
    bool need_pred_grad,
    bool need_target_grad,
    bool sum_only) {
  TORCH_CHECK(target.sizes() == pred.sizes(), "matching_sigmoid_fwd: pred and target shapes differ: ",
              pred.sizes(), " and ", target.sizes());
  TORCH_CHECK(pred.scalar_type() == target.scalar_type(), "matching_sigmoid_fwd: dtypes differ");
  TORCH_CHECK(pred.device().is_cpu() && target.device().is_cpu(), "matching_sigmoid_fwd: CPU tensors only");
  TORCH_CHECK(pred.scalar_type() == at::kFloat || pred.scalar_type() == at::kDouble,
              "matching_sigmoid_fwd: float32 or float64 only; got ", pred.scalar_type());
  TORCH_CHECK(alpha > 0 && scale > 0, "matching_sigmoid_fwd: alpha and scale must be positive");
  at::Tensor p = pred.contiguous(), t = target.contiguous();
  at::Tensor loss = sum_only ? at::zeros({}, p.options()) : empty_output(p);
  at::Tensor gp = need_pred_grad ? empty_output(p) : at::empty({0}, p.options());
  at::Tensor gt = need_target_grad ? empty_output(p) : at::empty({0}, p.options());
  if (p.numel() == 0) return {loss, gp, gt};
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "matching_sigmoid_fwd", [&] {
    double total = matching_sigmoid_kernel<scalar_t>(
        p.data_ptr<scalar_t>(), t.data_ptr<scalar_t>(), sum_only ? nullptr : loss.data_ptr<scalar_t>(),
        need_pred_grad ? gp.data_ptr<scalar_t>() : nullptr, need_target_grad ? gt.data_ptr<scalar_t>() : nullptr,
        p.numel(), alpha, beta, scale);
    if (sum_only) loss.fill_(total);
  });
  return {loss, gp, gt};
}

// cross_entropy_fwd: softmax cross-entropy per row of logits x [rows, K] with either
// integer labels [rows] (ignore_index rows give 0) or probability targets [rows, K],
// label smoothing eps, and its gradient:
//
//   t_k      = (1 - eps) y_k + eps * v_k / K'    (y one-hot or the given probabilities;
//              v_k = [x_k != -inf], K' = sum_k v_k: a -inf logit masks its class)
//   loss     = sum_k t_k (lse - x_k)             (terms with t_k = 0 are 0, also at x_k = -inf)
//   d/dx_k   = p_k sum_j t_j - t_k,   d/dt_k = (1 - eps)(lse - x_k)   (probability targets)
//
// Pass 1 reads the row (max, K', and for labels sum_valid x), pass 2 writes e^(x - max)
// into the gradient row and sums it, pass 3 normalises the row in cache.
template <typename scalar_t>
void cross_entropy_kernel(
    const scalar_t* x, const int64_t* labels, const scalar_t* probs, scalar_t* loss, scalar_t* gx, scalar_t* gtgt,
    int64_t rows, int64_t K, int64_t ignore_index, double eps) {
  using Vec = Vectorized<scalar_t>;
  constexpr int64_t W = Vec::size();
  const scalar_t ninf = -std::numeric_limits<scalar_t>::infinity();
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(K, 1));
  at::parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    const Vec vninf(ninf), zero(scalar_t(0)), one(scalar_t(1));
    for (int64_t r = r0; r < r1; ++r) {
      const scalar_t* xr = x + r * K;
      scalar_t* g = gx ? gx + r * K : nullptr;
      const scalar_t* tr = probs ? probs + r * K : nullptr;
      int64_t y = -1;
      if (labels) {
        y = labels[r];
        if (y == ignore_index) {
          loss[r] = 0;
          if (g) std::fill(g, g + K, scalar_t(0));
          continue;
        }
        TORCH_CHECK(y >= 0 && y < K, "cross_entropy_fwd: label ", y, " outside [0, ", K, ")");
      }
      // Pass 1: max; K' (unmasked classes); sum_k t_k and sum_k t_k x_k over t_k != 0.
      Vec vmax(ninf), vcnt(0), vsx(0), vst(0), vstx(0);
      auto p1 = [&](int64_t k, int64_t n) {
        Vec v = n == W ? Vec::loadu(xr + k) : Vec::set(vninf, Vec::loadu(xr + k, n), n);
        vmax = at::vec::maximum(vmax, v);
        Vec valid = v != vninf;
        vcnt = vcnt + (one & valid);
        vsx = vsx + (v & valid);  // sum of the unmasked logits (for smoothing)
        if (tr) {
          Vec t = n == W ? Vec::loadu(tr + k) : Vec::loadu(tr + k, n);
          Vec nz = t != zero;
          vst = vst + t;
          vstx = vstx + ((t * v) & nz);  // 0 * (-inf) = 0: a zero target ignores a masked class
        }
      };
      int64_t k = 0;
      for (; k + W <= K; k += W) p1(k, W);
      if (k < K) p1(k, K - k);
      scalar_t mx = at::vec::vec_reduce_all<scalar_t>([](Vec& a, Vec& b) { return at::vec::maximum(a, b); }, vmax);
      const double cnt = hsum(vcnt), sx = hsum(vsx), st = tr ? hsum(vst) : 1.0, stx = tr ? hsum(vstx) : 0.0;
      const scalar_t m = std::isfinite(mx) ? mx : scalar_t(0);
      const double x_y = labels ? double(xr[y]) : 0.0;  // read before pass 2 (g may be x itself)
      // Pass 2: the partition function; e^(x - m) parked in the gradient row.
      const Vec vm(m);
      Vec vs(0);
      auto p2 = [&](int64_t k, int64_t n) {
        Vec v = n == W ? Vec::loadu(xr + k) : Vec::loadu(xr + k, n);
        Vec e = (v - vm).exp_u20();
        if (n != W) e = Vec::set(zero, e, n);
        vs = vs + e;
        if (g) e.store(g + k, n);
      };
      for (k = 0; k + W <= K; k += W) p2(k, W);
      if (k < K) p2(k, K - k);
      const double S = hsum(vs);
      const double lse = double(m) + std::log(S);
      const double share = cnt > 0 ? eps / cnt : 0.0;  // eps * v_k / K'
      // sum_k t_k (lse - x_k) with t = (1 - eps) target + eps v / K'
      double target_part;
      if (labels) {
        target_part = lse - x_y;
      } else {
        target_part = st * lse - stx;
      }
      const double smooth_part = eps > 0 ? eps * (lse - sx / std::max(cnt, 1.0)) : 0.0;
      loss[r] = scalar_t((1.0 - eps) * target_part + smooth_part);
      const double total_t = (1.0 - eps) * st + (cnt > 0 ? eps : 0.0);  // sum_k t_k
      if (g) {
        const Vec a = Vec(scalar_t(total_t / S)), sh = Vec(scalar_t(share)), ome = Vec(scalar_t(1.0 - eps));
        const bool smoothing = share != 0.0;  // else the logits are not reread (g may be x itself)
        auto p3 = [&](int64_t k, int64_t n) {
          Vec e = n == W ? Vec::loadu(g + k) : Vec::loadu(g + k, n);
          Vec gr = e * a;
          if (smoothing) {
            Vec v = n == W ? Vec::loadu(xr + k) : Vec::loadu(xr + k, n);
            gr = gr - (sh & (v != vninf));
          }
          if (tr) {
            Vec t = n == W ? Vec::loadu(tr + k) : Vec::loadu(tr + k, n);
            gr = gr - ome * t;
          }
          gr.store(g + k, n);
        };
        for (k = 0; k + W <= K; k += W) p3(k, W);
        if (k < K) p3(k, K - k);
        if (labels) g[y] -= scalar_t(1.0 - eps);
      }
      if (gtgt) {
        scalar_t* gt = gtgt + r * K;
        const Vec vl = Vec(scalar_t(lse)), ome = Vec(scalar_t(1.0 - eps));
        auto p4 = [&](int64_t k, int64_t n) {
          Vec v = n == W ? Vec::loadu(xr + k) : Vec::loadu(xr + k, n);
          Vec t = n == W ? Vec::loadu(tr + k) : Vec::loadu(tr + k, n);
          // 0 at a masked class whose term is 0 ((1 - eps) t_k = 0), as the reference's 0 * inf := 0
          Vec::blendv(ome * (vl - v), zero, (v == vninf) & ((ome * t) == zero)).store(gt + k, n);
        };
        for (k = 0; k + W <= K; k += W) p4(k, W);
        if (k < K) p4(k, K - k);
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> cross_entropy_fwd(
    const at::Tensor& logits,
    const at::Tensor& target,
    int64_t ignore_index,
    double label_smoothing,
    bool need_grad,
    bool need_target_grad) {
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) > 0, "cross_entropy_fwd: logits must be [rows, K], K > 0; got ", logits.sizes());
  TORCH_CHECK(logits.device().is_cpu() && target.device().is_cpu(), "cross_entropy_fwd: CPU tensors only");
  TORCH_CHECK(logits.scalar_type() == at::kFloat || logits.scalar_type() == at::kDouble,
              "cross_entropy_fwd: float32 or float64 only; got ", logits.scalar_type());
  TORCH_CHECK(label_smoothing >= 0 && label_smoothing <= 1, "cross_entropy_fwd: label_smoothing outside [0, 1]");
  const bool is_labels = target.scalar_type() == at::kLong;
  if (is_labels) {
    TORCH_CHECK(target.dim() == 1 && target.size(0) == logits.size(0), "cross_entropy_fwd: labels must be [rows]; got ", target.sizes());
    TORCH_CHECK(!need_target_grad, "cross_entropy_fwd: integer labels have no gradient");
  } else {
    TORCH_CHECK(target.sizes() == logits.sizes() && target.scalar_type() == logits.scalar_type(),
                "cross_entropy_fwd: probability targets must match the logits' shape and dtype");
  }
  at::Tensor xl = logits.contiguous(), t = target.contiguous();
  at::Tensor loss = at::empty({xl.size(0)}, xl.options());
  at::Tensor gx = need_grad ? empty_output(xl) : at::empty({0}, xl.options());
  at::Tensor gt = need_target_grad ? empty_output(xl) : at::empty({0}, xl.options());
  if (xl.size(0) == 0) return {loss, gx, gt};
  AT_DISPATCH_FLOATING_TYPES(xl.scalar_type(), "cross_entropy_fwd", [&] {
    cross_entropy_kernel<scalar_t>(
        xl.data_ptr<scalar_t>(), is_labels ? t.data_ptr<int64_t>() : nullptr, is_labels ? nullptr : t.data_ptr<scalar_t>(),
        loss.data_ptr<scalar_t>(), need_grad ? gx.data_ptr<scalar_t>() : nullptr,
        need_target_grad ? gt.data_ptr<scalar_t>() : nullptr, xl.size(0), xl.size(1), ignore_index, label_smoothing);
  });
  return {loss, gx, gt};
}

// cross_entropy_fwd_inplace_: the loss rows, with the gradient written over the logits
// (no [rows, K] allocation; for the chunks of linear_cross_entropy, whose logits are a
// scratch buffer). Alias-safe without label smoothing: pass 1 reads the row, the label's
// logit is read before pass 2 overwrites the row element by element with e^(x - m), and
// pass 3 reads only that. With smoothing pass 3 needs the logits' -inf mask: refused.
at::Tensor cross_entropy_fwd_inplace_(at::Tensor& logits, const at::Tensor& target, int64_t ignore_index,
                                      double label_smoothing) {
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) > 0, "cross_entropy_fwd_inplace_: logits must be [rows, K], K > 0; got ",
              logits.sizes());
  TORCH_CHECK(logits.is_contiguous(), "cross_entropy_fwd_inplace_: logits must be contiguous");
  TORCH_CHECK(logits.device().is_cpu() && target.device().is_cpu(), "cross_entropy_fwd_inplace_: CPU tensors only");
  TORCH_CHECK(logits.scalar_type() == at::kFloat || logits.scalar_type() == at::kDouble,
              "cross_entropy_fwd_inplace_: float32 or float64 only; got ", logits.scalar_type());
  TORCH_CHECK(label_smoothing == 0, "cross_entropy_fwd_inplace_: label smoothing needs the logits after the gradient "
              "is written; use cross_entropy_fwd");
  const bool is_labels = target.scalar_type() == at::kLong;
  if (is_labels) {
    TORCH_CHECK(target.dim() == 1 && target.size(0) == logits.size(0),
                "cross_entropy_fwd_inplace_: labels must be [rows]; got ", target.sizes());
  } else {
    TORCH_CHECK(target.sizes() == logits.sizes() && target.scalar_type() == logits.scalar_type(),
                "cross_entropy_fwd_inplace_: probability targets must match the logits' shape and dtype");
  }
  at::Tensor t = target.contiguous();
  at::Tensor loss = at::empty({logits.size(0)}, logits.options());
  if (logits.size(0) == 0) return loss;
  AT_DISPATCH_FLOATING_TYPES(logits.scalar_type(), "cross_entropy_fwd_inplace_", [&] {
    scalar_t* x = logits.data_ptr<scalar_t>();
    cross_entropy_kernel<scalar_t>(
        x, is_labels ? t.data_ptr<int64_t>() : nullptr, is_labels ? nullptr : t.data_ptr<scalar_t>(),
        loss.data_ptr<scalar_t>(), x, nullptr, logits.size(0), logits.size(1), ignore_index, 0.0);
  });
  return loss;
}

// parallel_threads: how many threads at::parallel_for ran a range of n items on (grain 1).
// at::parallel_for is an inline OpenMP region: a library built without -fopenmp runs it on
// one thread whatever torch.get_num_threads() says; tests check the build with this.
int64_t parallel_threads(int64_t n) {
  std::atomic<uint64_t> seen{0};
  at::parallel_for(0, std::max<int64_t>(n, 1), 1, [&](int64_t, int64_t) {
    seen.fetch_or(uint64_t(1) << (at::get_thread_num() & 63));
  });
  int64_t count = 0;
  for (uint64_t bits = seen.load(); bits; bits &= bits - 1) ++count;
  return count;
}

}  // namespace losslab_kernels

TORCH_LIBRARY(losslab, m) {
  m.def(
      "composite_softmax_fwd(Tensor pred, Tensor target, str shape, float alpha, float beta, float cap, "
      "float scale, float gamma, bool need_pred_grad, bool need_target_grad) -> (Tensor, Tensor, Tensor)");
  m.def(
      "matching_sigmoid_fwd(Tensor pred, Tensor target, float alpha, float beta, float scale, "
      "bool need_pred_grad, bool need_target_grad, bool sum_only=False) -> (Tensor, Tensor, Tensor)");
  m.def(
      "cross_entropy_fwd(Tensor logits, Tensor target, int ignore_index, float label_smoothing, "
      "bool need_grad, bool need_target_grad) -> (Tensor, Tensor, Tensor)");
  m.def(
      "composite_softmax_fwd_inplace_(Tensor(a!) pred, Tensor target, str shape, float alpha, float beta, "
      "float cap, float scale, float gamma) -> Tensor");
  m.def(
      "cross_entropy_fwd_inplace_(Tensor(a!) logits, Tensor target, int ignore_index, float label_smoothing) -> Tensor");
  m.def("parallel_threads(int n) -> int");
}

TORCH_LIBRARY_IMPL(losslab, CPU, m) {
  m.impl("composite_softmax_fwd", &losslab_kernels::composite_softmax_fwd);
  m.impl("matching_sigmoid_fwd", &losslab_kernels::matching_sigmoid_fwd);
  m.impl("cross_entropy_fwd", &losslab_kernels::cross_entropy_fwd);
  m.impl("composite_softmax_fwd_inplace_", &losslab_kernels::composite_softmax_fwd_inplace_);
  m.impl("cross_entropy_fwd_inplace_", &losslab_kernels::cross_entropy_fwd_inplace_);
}

TORCH_LIBRARY_IMPL(losslab, CompositeExplicitAutograd, m) {
  m.impl("parallel_threads", &losslab_kernels::parallel_threads);
}
