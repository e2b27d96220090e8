// Local operators of the class-parallel (vocabulary-parallel) losses of losslab.distributed:
// each rank holds the columns [class_start, class_start + K_local) of every row, and the
// loss needs sums over all K classes. The protocol is two all-reduces of O(B) numbers:
//
//   1. stats (this file): one read of the shard gives, per row, the local max m_r and the
//      partial sums taken relative to it (sum_k e^(z_k - m_r), ...);
//   2. all-reduce MAX of m_r -> m; each rank rescales its partial sums by e^(m_r - m)
//      (O(B), in Python), then one all-reduce SUM gives the global sums;
//   3. bwd (this file): given the global normalisers, the gradient of the shard, written once.
//
// Taking the sums relative to the *local* max (instead of waiting for the global one) is
// what lets step 1 read the logits once: the rescaling e^(m_r - m) <= 1 is exact up to one
// rounding. A non-finite local max is not subtracted (shift 0, as torch.logsumexp); the
// caller uses the same rule when it rescales.
//
// vocab_parallel_lse_stats / _lse_bwd: cross-entropy (ignore_index, class weights, label
// smoothing) and self-normalisation, whose per-row coefficients the caller forms from the
// reduced sums; vocab_parallel_composite_stats / _composite_bwd: the composite-Softmax loss
// of seed 000, eq. (29)-(30), for the scalings of composite_softmax_fwd.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include "output_buffers.h"
#include "scaling_link.h"
#include "vec_sum.h"

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace losslab_class_parallel {

using at::vec::Vectorized;

// The scalings (scaling_link.h) are composite_softmax_fwd's own.
using losslab_kernels::Link;
using losslab_kernels::Shape;
using losslab_kernels::parse_shape;
using losslab_kernels::row_ranges;
using losslab_kernels::hsum;

template <typename scalar_t>
inline scalar_t finite_or_zero(scalar_t m) {
  return std::isfinite(m) ? m : scalar_t(0);
}

inline int64_t row_grain(int64_t K) {
  return std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(K, 1));
}

// ---------------------------------------------------------------------------------
// Cross-entropy and self-normalisation
//
// stats row r, columns: [m_r, sum_k e^(z_k - shift_r), z_y (owned, else 0), owned (0/1),
//                        (w_y if weight), (sum_k w_k z_k, or sum_k z_k, if smoothing)]
// with shift_r = m_r if finite else 0, and "owned": y != ignore_index and
// class_start <= y < class_start + K_local. Pass 1 reads the row (max, label, smoothing
// sum); pass 2 rereads it from cache for the exponentials.

template <typename scalar_t>
void lse_stats_kernel(const scalar_t* x, const int64_t* labels, const scalar_t* w, scalar_t* out, int64_t rows,
                      int64_t K, int64_t C, int64_t start, bool has_ignore, int64_t ignore_index, bool smoothing) {
  using Vec = Vectorized<scalar_t>;
  constexpr int64_t W = Vec::size();
  const scalar_t ninf = -std::numeric_limits<scalar_t>::infinity();
  at::parallel_for(0, rows, row_grain(K), [&](int64_t r0, int64_t r1) {
    const Vec vninf(ninf), zero(scalar_t(0));
    for (int64_t r = r0; r < r1; ++r) {
      const scalar_t* xr = x + r * K;
      scalar_t* o = out + r * C;
      Vec vmax(ninf), vsz(0);
      auto p1 = [&](int64_t k, int64_t n) {
        Vec v = n == W ? Vec::loadu(xr + k) : Vec::set(vninf, Vec::loadu(xr + k, n), n);
        vmax = at::vec::maximum(vmax, v);
        if (smoothing) {
          Vec t = w ? v * (n == W ? Vec::loadu(w + k) : Vec::loadu(w + k, n)) : v;
          vsz = vsz + (n == W ? t : Vec::set(zero, t, n));
        }
      };
      int64_t k = 0;
      for (; k + W <= K; k += W) p1(k, W);
      if (k < K) p1(k, K - k);
      const scalar_t mx = at::vec::vec_reduce_all<scalar_t>([](Vec& a, Vec& b) { return at::vec::maximum(a, b); }, vmax);
      const Vec vm(finite_or_zero(mx));
      Vec vs(0);
      auto p2 = [&](int64_t k, int64_t n) {
        Vec e = ((n == W ? Vec::loadu(xr + k) : Vec::loadu(xr + k, n)) - vm).exp_u20();
        vs = vs + (n == W ? e : Vec::set(zero, e, n));
      };
      for (k = 0; k + W <= K; k += W) p2(k, W);
      if (k < K) p2(k, K - k);
      const int64_t y = labels[r];
      const bool owned = !(has_ignore && y == ignore_index) && y >= start && y - start < K;
      o[0] = mx;
      o[1] = scalar_t(hsum(vs));
      o[2] = owned ? xr[y - start] : scalar_t(0);
      o[3] = owned ? scalar_t(1) : scalar_t(0);
      int64_t c = 4;
      if (w) o[c++] = owned ? w[y - start] : scalar_t(0);
      if (smoothing) o[c++] = scalar_t(hsum(vsz));
    }
  });
}

at::Tensor vocab_parallel_lse_stats(const at::Tensor& logits, const at::Tensor& labels, int64_t class_start,
                                    std::optional<int64_t> ignore_index, const std::optional<at::Tensor>& weight,
                                    bool smoothing) {
  TORCH_CHECK(logits.dim() == 2, "vocab_parallel_lse_stats: logits must be [B, K_local]; got ", logits.sizes());
  TORCH_CHECK(logits.device().is_cpu() && labels.device().is_cpu(), "vocab_parallel_lse_stats: CPU tensors only");
  TORCH_CHECK(logits.scalar_type() == at::kFloat || logits.scalar_type() == at::kDouble,
              "vocab_parallel_lse_stats: float32 or float64 only; got ", logits.scalar_type());
  TORCH_CHECK(labels.scalar_type() == at::kLong && labels.dim() == 1 && labels.size(0) == logits.size(0),
              "vocab_parallel_lse_stats: labels must be int64 [B]; got ", labels.scalar_type(), " ", labels.sizes());
  const bool has_w = weight.has_value() && weight->defined();
  if (has_w) {
    TORCH_CHECK(weight->dim() == 1 && weight->size(0) == logits.size(1) && weight->scalar_type() == logits.scalar_type() &&
                    weight->device().is_cpu(),
                "vocab_parallel_lse_stats: weight must be a CPU [K_local] tensor of the logits' dtype");
  }
  const int64_t C = 4 + (has_w ? 1 : 0) + (smoothing ? 1 : 0);
  at::Tensor x = logits.contiguous(), y = labels.contiguous();
  at::Tensor w = has_w ? weight->contiguous() : at::Tensor();
  at::Tensor out = at::empty({x.size(0), C}, x.options());
  if (x.size(0) == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "vocab_parallel_lse_stats", [&] {
    lse_stats_kernel<scalar_t>(x.data_ptr<scalar_t>(), y.data_ptr<int64_t>(), has_w ? w.data_ptr<scalar_t>() : nullptr,
                               out.data_ptr<scalar_t>(), x.size(0), x.size(1), C, class_start, ignore_index.has_value(),
                               ignore_index.value_or(0), smoothing);
  });
  return out;
}

// grad[r, k] = e^(z_rk - lse_r) coef_r - smooth_r (w_k or 1) - [k == y_r - class_start] onehot_r
template <typename scalar_t>
void lse_bwd_kernel(const scalar_t* x, const int64_t* labels, const scalar_t* lse, const scalar_t* coef,
                    const scalar_t* onehot, const scalar_t* smooth, const scalar_t* w, scalar_t* g, int64_t rows,
                    int64_t K, int64_t start) {
  using Vec = Vectorized<scalar_t>;
  constexpr int64_t W = Vec::size();
  at::parallel_for(0, rows, row_grain(K), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const scalar_t* xr = x + r * K;
      scalar_t* gr = g + r * K;
      const Vec vl(lse[r]), vc(coef[r]), vsm(smooth ? smooth[r] : scalar_t(0));
      auto step = [&](int64_t k, int64_t n) {
        Vec v = n == W ? Vec::loadu(xr + k) : Vec::loadu(xr + k, n);
        Vec out = (v - vl).exp_u20() * vc;
        if (smooth) out = out - (w ? vsm * (n == W ? Vec::loadu(w + k) : Vec::loadu(w + k, n)) : vsm);
        out.store(gr + k, n);
      };
      int64_t k = 0;
      for (; k + W <= K; k += W) step(k, W);
      if (k < K) step(k, K - k);
      const int64_t j = labels[r] - start;
      if (labels[r] >= start && j < K) gr[j] -= onehot[r];
    }
  });
}

at::Tensor vocab_parallel_lse_bwd(const at::Tensor& logits, const at::Tensor& labels, int64_t class_start,
                                  const at::Tensor& lse, const at::Tensor& coef, const at::Tensor& onehot,
                                  const std::optional<at::Tensor>& smooth, const std::optional<at::Tensor>& weight) {
  TORCH_CHECK(logits.dim() == 2, "vocab_parallel_lse_bwd: logits must be [B, K_local]; got ", logits.sizes());
  TORCH_CHECK(logits.device().is_cpu(), "vocab_parallel_lse_bwd: CPU tensors only");
  TORCH_CHECK(logits.scalar_type() == at::kFloat || logits.scalar_type() == at::kDouble,
              "vocab_parallel_lse_bwd: float32 or float64 only; got ", logits.scalar_type());
  const int64_t B = logits.size(0);
  TORCH_CHECK(labels.scalar_type() == at::kLong && labels.sizes() == at::IntArrayRef({B}),
              "vocab_parallel_lse_bwd: labels must be int64 [B]");
  const bool has_s = smooth.has_value() && smooth->defined();
  const bool has_w = weight.has_value() && weight->defined();
  for (const at::Tensor* t : {&lse, &coef, &onehot}) {
    TORCH_CHECK(t->sizes() == at::IntArrayRef({B}) && t->scalar_type() == logits.scalar_type(),
                "vocab_parallel_lse_bwd: lse, coef and onehot must be [B] of the logits' dtype");
  }
  if (has_s) {
    TORCH_CHECK(smooth->sizes() == at::IntArrayRef({B}) && smooth->scalar_type() == logits.scalar_type(),
                "vocab_parallel_lse_bwd: smooth must be [B] of the logits' dtype");
  }
  if (has_w) {
    TORCH_CHECK(weight->dim() == 1 && weight->size(0) == logits.size(1) && weight->scalar_type() == logits.scalar_type(),
                "vocab_parallel_lse_bwd: weight must be [K_local] of the logits' dtype");
  }
  at::Tensor x = logits.contiguous(), y = labels.contiguous(), l = lse.contiguous(), c = coef.contiguous(),
             o = onehot.contiguous();
  at::Tensor s = has_s ? smooth->contiguous() : at::Tensor(), w = has_w ? weight->contiguous() : at::Tensor();
  at::Tensor g = losslab_kernels::empty_output(x);
  if (x.numel() == 0) return g;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "vocab_parallel_lse_bwd", [&] {
    lse_bwd_kernel<scalar_t>(x.data_ptr<scalar_t>(), y.data_ptr<int64_t>(), l.data_ptr<scalar_t>(), c.data_ptr<scalar_t>(),
                             o.data_ptr<scalar_t>(), has_s ? s.data_ptr<scalar_t>() : nullptr,
                             has_w ? w.data_ptr<scalar_t>() : nullptr, g.data_ptr<scalar_t>(), B, x.size(1), class_start);
  });
  return g;
}

// ---------------------------------------------------------------------------------
// Composite Softmax, eq. (29)-(30)
//
// stats row r, columns: [mh_r, ms_r, Sh_r, Ss_r, lin_r] with mh/ms the local maxima of the
// Q-logits l = Q/gamma of pred and target, Sh = sum_k e^(lh_k - mh), Ss = sum_k e^(ls_k - ms),
// lin = sum_k (pred_k - target_k) q(target_k) e^(ls_k - ms) (shifts: finite or 0). Every
// supported Q is convex or monotone, so its row max sits at the row's smallest or largest
// score: pass 1 needs no exponential (as composite_softmax_fwd).

template <typename scalar_t, Shape S, bool Capped>
void composite_stats_rows(const scalar_t* pred, const scalar_t* target, scalar_t* out, int64_t rows, int64_t K,
                          const Link<scalar_t, S, Capped>& link) {
  using Vec = Vectorized<scalar_t>;
  constexpr int64_t W = Vec::size();
  const scalar_t ninf = -std::numeric_limits<scalar_t>::infinity();
  at::parallel_for(0, rows, row_grain(K), [&](int64_t r0, int64_t r1) {
    const Vec zero(scalar_t(0));
    for (int64_t r = r0; r < r1; ++r) {
      const scalar_t* ph = pred + r * K;
      const scalar_t* ps = target + r * K;
      scalar_t* o = out + r * 5;
      if (K == 0) {
        o[0] = o[1] = ninf;
        o[2] = o[3] = o[4] = 0;
        continue;
      }
      scalar_t mnh, mxh, mns, mxs;
      row_ranges(ph, ps, K, mnh, mxh, mns, mxs);
      const scalar_t mh = std::max(link.logit(mnh), link.logit(mxh));
      const scalar_t ms = std::max(link.logit(mns), link.logit(mxs));
      const Vec vmh(finite_or_zero(mh)), vms(finite_or_zero(ms));
      Vec Sh(0), Ss(0), lin(0);
      auto step = [&](int64_t k, int64_t n) {
        Vec zh = n == W ? Vec::loadu(ph + k) : Vec::loadu(ph + k, n);
        Vec zs = n == W ? Vec::loadu(ps + k) : Vec::loadu(ps + k, n);
        Vec lh, qh, ls, qs;
        link(zh, lh, qh);
        link(zs, ls, qs);
        Vec eh = (lh - vmh).exp_u20();
        Vec es = (ls - vms).exp_u20();
        Vec dl = (zh - zs) * qs * es;
        if (n != W) {
          eh = Vec::set(zero, eh, n);
          es = Vec::set(zero, es, n);
          dl = Vec::set(zero, dl, n);
        }
        Sh = Sh + eh;
        Ss = Ss + es;
        lin = lin + dl;
      };
      int64_t k = 0;
      for (; k + W <= K; k += W) step(k, W);
      if (k < K) step(k, K - k);
      o[0] = mh;
      o[1] = ms;
      o[2] = scalar_t(hsum(Sh));
      o[3] = scalar_t(hsum(Ss));
      o[4] = scalar_t(hsum(lin));
    }
  });
}

// d/d pred   = g [q(pred) e^(lh - log Zh) - q(target) e^(ls - log Zs)]                    (30)
// d/d target = -g p [q'(target) d + q(target) (q(target) d - A) / gamma],  d = pred - target,
//              p = e^(ls - log Zs), A = sum_k p_k q_k d_k (global): the Hessian-vector product.
template <typename scalar_t, Shape S, bool Capped>
void composite_bwd_rows(const scalar_t* pred, const scalar_t* target, const scalar_t* log_zh, const scalar_t* log_zs,
                        const scalar_t* A, const scalar_t* gl, scalar_t* gp, scalar_t* gt, int64_t rows, int64_t K,
                        const Link<scalar_t, S, Capped>& link, double gamma) {
  using Vec = Vectorized<scalar_t>;
  constexpr int64_t W = Vec::size();
  at::parallel_for(0, rows, row_grain(K), [&](int64_t r0, int64_t r1) {
    const Vec ig(scalar_t(1.0 / gamma));
    for (int64_t r = r0; r < r1; ++r) {
      const scalar_t* ph = pred + r * K;
      const scalar_t* ps = target + r * K;
      const Vec vzh(log_zh[r]), vzs(log_zs[r]), vA(A[r]), vg(gl[r]);
      auto step = [&](int64_t k, int64_t n) {
        Vec zh = n == W ? Vec::loadu(ph + k) : Vec::loadu(ph + k, n);
        Vec zs = n == W ? Vec::loadu(ps + k) : Vec::loadu(ps + k, n);
        Vec ls, qs, qps;
        link(zs, ls, qs, gt ? &qps : nullptr);
        Vec p = (ls - vzs).exp_u20();
        if (gp) {
          Vec lh, qh;
          link(zh, lh, qh);
          ((qh * (lh - vzh).exp_u20() - qs * p) * vg).store(gp + r * K + k, n);
        }
        if (gt) {
          Vec d = zh - zs;
          (p * (qps * d + qs * (qs * d - vA) * ig) * vg).neg().store(gt + r * K + k, n);
        }
      };
      int64_t k = 0;
      for (; k + W <= K; k += W) step(k, W);
      if (k < K) step(k, K - k);
    }
  });
}

void check_composite(const char* name, const at::Tensor& pred, const at::Tensor& target, double alpha, double gamma,
                     double scale, double cap) {
  TORCH_CHECK(pred.dim() == 2 && target.sizes() == pred.sizes(), name,
              ": pred and target must be [B, K_local] of one shape; got ", pred.sizes(), " and ", target.sizes());
  TORCH_CHECK(pred.scalar_type() == target.scalar_type(), name, ": dtypes differ");
  TORCH_CHECK(pred.device().is_cpu() && target.device().is_cpu(), name, ": CPU tensors only");
  TORCH_CHECK(pred.scalar_type() == at::kFloat || pred.scalar_type() == at::kDouble, name,
              ": float32 or float64 only; got ", pred.scalar_type());
  TORCH_CHECK(alpha > 0 && gamma > 0 && scale > 0 && cap > 0, name, ": alpha, gamma, scale and cap must be positive");
}

// Calls fn.template operator()<S, Capped>(link) for the runtime shape and cap.
template <typename scalar_t, typename Fn>
void with_link(Shape S, double alpha, double beta, double cap, double scale, double gamma, Fn&& fn) {
  auto go = [&](auto shape_tag) {
    constexpr Shape SS = decltype(shape_tag)::value;
    if (std::isfinite(cap)) {
      fn(Link<scalar_t, SS, true>(alpha, beta, cap, scale, gamma));
    } else {
      fn(Link<scalar_t, SS, false>(alpha, beta, cap, scale, gamma));
    }
  };
  switch (S) {
    case Shape::Identity: go(std::integral_constant<Shape, Shape::Identity>{}); break;
    case Shape::Exp: go(std::integral_constant<Shape, Shape::Exp>{}); break;
    case Shape::AntiExp: go(std::integral_constant<Shape, Shape::AntiExp>{}); break;
    case Shape::Sinh: go(std::integral_constant<Shape, Shape::Sinh>{}); break;
    case Shape::Cosh: go(std::integral_constant<Shape, Shape::Cosh>{}); break;
  }
}

at::Tensor vocab_parallel_composite_stats(const at::Tensor& pred, const at::Tensor& target, c10::string_view shape,
                                          double alpha, double beta, double cap, double scale, double gamma) {
  check_composite("vocab_parallel_composite_stats", pred, target, alpha, gamma, scale, cap);
  const Shape S = parse_shape(std::string(shape), "vocab_parallel_composite");
  at::Tensor p = pred.contiguous(), t = target.contiguous();
  at::Tensor out = at::empty({p.size(0), 5}, p.options());
  if (p.size(0) == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "vocab_parallel_composite_stats", [&] {
    with_link<scalar_t>(S, alpha, beta, cap, scale, gamma, [&](const auto& link) {
      composite_stats_rows(p.data_ptr<scalar_t>(), t.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), p.size(0),
                           p.size(1), link);
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> vocab_parallel_composite_bwd(
    const at::Tensor& pred, const at::Tensor& target, const at::Tensor& log_zh, const at::Tensor& log_zs,
    const at::Tensor& lin, const at::Tensor& grad_loss, c10::string_view shape, double alpha, double beta, double cap,
    double scale, double gamma, bool need_pred_grad, bool need_target_grad) {
  check_composite("vocab_parallel_composite_bwd", pred, target, alpha, gamma, scale, cap);
  const int64_t B = pred.size(0);
  for (const at::Tensor* t : {&log_zh, &log_zs, &lin, &grad_loss}) {
    TORCH_CHECK(t->sizes() == at::IntArrayRef({B}) && t->scalar_type() == pred.scalar_type() && t->device().is_cpu(),
                "vocab_parallel_composite_bwd: log_zh, log_zs, lin and grad_loss must be CPU [B] of pred's dtype");
  }
  const Shape S = parse_shape(std::string(shape), "vocab_parallel_composite");
  at::Tensor p = pred.contiguous(), t = target.contiguous();
  at::Tensor zh = log_zh.contiguous(), zs = log_zs.contiguous(), A = lin.contiguous(), g = grad_loss.contiguous();
  at::Tensor gp = need_pred_grad ? losslab_kernels::empty_output(p) : at::empty({0}, p.options());
  at::Tensor gt = need_target_grad ? losslab_kernels::empty_output(p) : at::empty({0}, p.options());
  if (p.numel() == 0 || !(need_pred_grad || need_target_grad)) return {gp, gt};
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "vocab_parallel_composite_bwd", [&] {
    with_link<scalar_t>(S, alpha, beta, cap, scale, gamma, [&](const auto& link) {
      composite_bwd_rows(p.data_ptr<scalar_t>(), t.data_ptr<scalar_t>(), zh.data_ptr<scalar_t>(), zs.data_ptr<scalar_t>(),
                         A.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), need_pred_grad ? gp.data_ptr<scalar_t>() : nullptr,
                         need_target_grad ? gt.data_ptr<scalar_t>() : nullptr, B, p.size(1), link, gamma);
    });
  });
  return {gp, gt};
}

}  // namespace losslab_class_parallel

TORCH_LIBRARY_FRAGMENT(losslab, m) {
  m.def(
      "vocab_parallel_lse_stats(Tensor logits, Tensor labels, int class_start, int? ignore_index, Tensor? weight, "
      "bool smoothing) -> Tensor");
  m.def(
      "vocab_parallel_lse_bwd(Tensor logits, Tensor labels, int class_start, Tensor lse, Tensor coef, Tensor onehot, "
      "Tensor? smooth, Tensor? weight) -> Tensor");
  m.def(
      "vocab_parallel_composite_stats(Tensor pred, Tensor target, str shape, float alpha, float beta, float cap, "
      "float scale, float gamma) -> Tensor");
  m.def(
      "vocab_parallel_composite_bwd(Tensor pred, Tensor target, Tensor log_zh, Tensor log_zs, Tensor lin, "
      "Tensor grad_loss, str shape, float alpha, float beta, float cap, float scale, float gamma, "
      "bool need_pred_grad, bool need_target_grad) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(losslab, CPU, m) {
  m.impl("vocab_parallel_lse_stats", &losslab_class_parallel::vocab_parallel_lse_stats);
  m.impl("vocab_parallel_lse_bwd", &losslab_class_parallel::vocab_parallel_lse_bwd);
  m.impl("vocab_parallel_composite_stats", &losslab_class_parallel::vocab_parallel_composite_stats);
  m.impl("vocab_parallel_composite_bwd", &losslab_class_parallel::vocab_parallel_composite_bwd);
}
