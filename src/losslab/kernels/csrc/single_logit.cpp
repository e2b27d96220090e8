// Fused CPU kernels of two single-logit objectives of seed 001 and of the class-weighted
// softmax cross-entropy. They add operators to the library that losslab_kernels.cpp
// declares (TORCH_LIBRARY_FRAGMENT), and follow its pattern: one call per loss call, the
// gradient computed in the forward, at::parallel_for over rows, ATen's Vectorized exp.
//
// self_normalization_fwd (Sect. 4.1), per row of logits x [rows, K] with label y:
//   loss     = lse - x_y + alpha lse^2,   lse = log sum_k e^(x_k)
//   d/dx_k   = p_k (1 + 2 alpha lse) - [k = y]
//
// batch_cross_entropy_fwd (Definition 2): KL(P_B || Q_B) over the whole [B, K] matrix,
// returned per row as ell_i = L - x_{i, y_i} - log B with L = log sum_{i,k} e^(x_ik):
//   pass 1 (rows in parallel): the row max m_i, e^(x - m_i) parked in the gradient
//          buffer, S_i = its sum;
//   combine (serial, B scalars): L = logsumexp_i (m_i + log S_i);
//   pass 2 (rows in parallel): the buffer times e^(m_i - L) = Q_B, in cache.
// The gradient of sum_i g_i ell_i is (sum_i g_i) Q_B - g_i [k = y_i]; autograd forms it
// from the saved Q_B (kernels/__init__.py).
//
// cross_entropy_weighted_fwd: softmax cross-entropy with class weights w [K], integer
// labels (ignore_index rows give 0) or probability targets, label smoothing eps:
//   c_k      = (1 - eps) y_k + eps v_k / K'   (v_k = [x_k != -inf], K' = sum_k v_k)
//   loss     = sum_k c_k w_k (lse - x_k)      (terms with c_k w_k = 0 are 0, also at x_k = -inf)
//   d/dx_k   = p_k sum_j c_j w_j - c_k w_k,   d/dt_k = (1 - eps) w_k (lse - x_k)
// which is F.cross_entropy(weight=w) per element; the weighted mean's denominator
// (sum_i w_{y_i} over kept rows) is applied by the caller.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include "output_buffers.h"
#include "vec_sum.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace losslab_single_logit {

using at::vec::Vectorized;

using losslab_kernels::hsum;

// Rows of 32K floats stay in L2 between a row's passes; a task gets ~32K elements.
inline int64_t row_grain(int64_t K) { return std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(K, 1)); }

// The largest entry of a row (NaN propagates; a row of -inf gives -inf).
template <typename T>
T row_max(const T* x, int64_t K) {
  using Vec = Vectorized<T>;
  constexpr int64_t W = Vec::size();
  const Vec vninf(-std::numeric_limits<T>::infinity());
  Vec vm = vninf;
  int64_t k = 0;
  for (; k + W <= K; k += W) vm = at::vec::maximum(vm, Vec::loadu(x + k));
  if (k < K) vm = at::vec::maximum(vm, Vec::set(vninf, Vec::loadu(x + k, K - k), K - k));
  return at::vec::vec_reduce_all<T>([](Vec& a, Vec& b) { return at::vec::maximum(a, b); }, vm);
}

// sum_k e^(x_k - m), with e^(x_k - m) stored into e_out when it is not null.
template <typename T>
double row_exp_sum(const T* x, int64_t K, T m, T* e_out) {
  using Vec = Vectorized<T>;
  constexpr int64_t W = Vec::size();
  const Vec vm(m), zero(T(0));
  Vec vs(T(0));
  auto step = [&](int64_t k, int64_t n) {
    Vec e = ((n == W ? Vec::loadu(x + k) : Vec::loadu(x + k, n)) - vm).exp_u20();
    if (n != W) e = Vec::set(zero, e, n);  // the tail's padding lanes contribute nothing
    vs = vs + e;
    if (e_out) e.store(e_out + k, n);
  };
  int64_t k = 0;
  for (; k + W <= K; k += W) step(k, W);
  if (k < K) step(k, K - k);
  return hsum(vs);
}

template <typename T>
void scale_row(T* g, int64_t K, T a) {
  using Vec = Vectorized<T>;
  constexpr int64_t W = Vec::size();
  const Vec va(a);
  int64_t k = 0;
  for (; k + W <= K; k += W) (Vec::loadu(g + k) * va).store(g + k);
  for (; k < K; ++k) g[k] *= a;
}

// As torch.logsumexp: an infinite max is not subtracted.
template <typename T>
inline T shift_of(T mx) { return std::isfinite(mx) ? mx : T(0); }

void check_rows_labels(const char* op, const at::Tensor& logits, const at::Tensor& labels) {
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) > 0, op, ": logits must be [rows, K], K > 0; got ", logits.sizes());
  TORCH_CHECK(logits.device().is_cpu() && labels.device().is_cpu(), op, ": CPU tensors only");
  TORCH_CHECK(logits.scalar_type() == at::kFloat || logits.scalar_type() == at::kDouble,
              op, ": float32 or float64 only; got ", logits.scalar_type());
  TORCH_CHECK(labels.scalar_type() == at::kLong && labels.dim() == 1 && labels.size(0) == logits.size(0),
              op, ": labels must be int64 [rows]; got ", labels.scalar_type(), " ", labels.sizes());
}

inline void check_label(const char* op, int64_t y, int64_t K) {
  TORCH_CHECK(y >= 0 && y < K, op, ": label ", y, " outside [0, ", K, ")");
}

// ---------------------------------------------------------------------------------
// self_normalization_fwd

template <typename T>
void self_normalization_kernel(const T* x, const int64_t* labels, T* loss, T* gx, int64_t rows, int64_t K, double alpha) {
  at::parallel_for(0, rows, row_grain(K), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * K;
      T* g = gx ? gx + r * K : nullptr;
      const int64_t y = labels[r];
      check_label("self_normalization_fwd", y, K);
      const T m = shift_of(row_max(xr, K));
      const double S = row_exp_sum(xr, K, m, g);  // e^(x - m) parked in the gradient row
      const double lse = double(m) + std::log(S);
      loss[r] = T(lse - double(xr[y]) + alpha * lse * lse);
      if (g) {
        scale_row(g, K, T((1.0 + 2.0 * alpha * lse) / S));
        g[y] -= T(1);
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor> self_normalization_fwd(
    const at::Tensor& logits, const at::Tensor& labels, double alpha, bool need_grad) {
  check_rows_labels("self_normalization_fwd", logits, labels);
  TORCH_CHECK(alpha > 0, "self_normalization_fwd: alpha must be positive; got ", alpha);
  at::Tensor xl = logits.contiguous(), y = labels.contiguous();
  at::Tensor loss = at::empty({xl.size(0)}, xl.options());
  at::Tensor gx = need_grad ? losslab_kernels::empty_output(xl) : at::empty({0}, xl.options());
  if (xl.size(0) == 0) return {loss, gx};
  AT_DISPATCH_FLOATING_TYPES(xl.scalar_type(), "self_normalization_fwd", [&] {
    self_normalization_kernel<scalar_t>(xl.data_ptr<scalar_t>(), y.data_ptr<int64_t>(), loss.data_ptr<scalar_t>(),
                                        need_grad ? gx.data_ptr<scalar_t>() : nullptr, xl.size(0), xl.size(1), alpha);
  });
  return {loss, gx};
}

// ---------------------------------------------------------------------------------
// batch_cross_entropy_fwd

template <typename T>
void batch_cross_entropy_kernel(const T* x, const int64_t* labels, T* loss, T* q, int64_t rows, int64_t K) {
  std::vector<double> shift(rows), row_lse(rows);
  // Pass 1: each row's max and partition function (the two-level reduction's first level).
  at::parallel_for(0, rows, row_grain(K), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * K;
      check_label("batch_cross_entropy_fwd", labels[r], K);
      const T m = shift_of(row_max(xr, K));
      const double S = row_exp_sum(xr, K, m, q ? q + r * K : nullptr);
      shift[r] = double(m);
      row_lse[r] = double(m) + std::log(S);
    }
  });
  // Combine: L = logsumexp over the rows' log-partition functions.
  double M = -std::numeric_limits<double>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    if (std::isnan(row_lse[r]) || row_lse[r] > M) M = row_lse[r];
  }
  const double Mf = std::isfinite(M) ? M : 0.0;
  double Z = 0;
  for (int64_t r = 0; r < rows; ++r) Z += std::exp(row_lse[r] - Mf);
  const double L = Mf + std::log(Z);
  const double log_B = std::log(double(rows));
  // Pass 2: the per-row terms, and Q_B = e^(x - m_i) e^(m_i - L) rescaled in cache.
  at::parallel_for(0, rows, row_grain(K), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      loss[r] = T(L - double(x[r * K + labels[r]]) - log_B);
      if (q) scale_row(q + r * K, K, T(std::exp(shift[r] - L)));
    }
  });
}

std::tuple<at::Tensor, at::Tensor> batch_cross_entropy_fwd(const at::Tensor& logits, const at::Tensor& labels, bool need_grad) {
  check_rows_labels("batch_cross_entropy_fwd", logits, labels);
  at::Tensor xl = logits.contiguous(), y = labels.contiguous();
  at::Tensor loss = at::empty({xl.size(0)}, xl.options());
  at::Tensor q = need_grad ? losslab_kernels::empty_output(xl) : at::empty({0}, xl.options());
  if (xl.size(0) == 0) return {loss, q};
  AT_DISPATCH_FLOATING_TYPES(xl.scalar_type(), "batch_cross_entropy_fwd", [&] {
    batch_cross_entropy_kernel<scalar_t>(xl.data_ptr<scalar_t>(), y.data_ptr<int64_t>(), loss.data_ptr<scalar_t>(),
                                         need_grad ? q.data_ptr<scalar_t>() : nullptr, xl.size(0), xl.size(1));
  });
  return {loss, q};
}

// ---------------------------------------------------------------------------------
// cross_entropy_weighted_fwd

template <typename T>
void cross_entropy_weighted_kernel(
    const T* x, const int64_t* labels, const T* probs, const T* w, T* loss, T* gx, T* gtgt,
    int64_t rows, int64_t K, int64_t ignore_index, double eps) {
  using Vec = Vectorized<T>;
  constexpr int64_t W = Vec::size();
  const T ninf = -std::numeric_limits<T>::infinity();
  at::parallel_for(0, rows, row_grain(K), [&](int64_t r0, int64_t r1) {
    const Vec vninf(ninf), zero(T(0)), one(T(1));
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * K;
      T* g = gx ? gx + r * K : nullptr;
      const T* tr = probs ? probs + r * K : nullptr;
      int64_t y = -1;
      if (labels) {
        y = labels[r];
        if (y == ignore_index) {
          loss[r] = 0;
          if (g) std::fill(g, g + K, T(0));
          continue;
        }
        check_label("cross_entropy_weighted_fwd", y, K);
      }
      // Pass 1: max; K'; sum_valid w_k and sum_valid w_k x_k (smoothing); for probabilities
      // sum_k t_k w_k and sum_k t_k w_k x_k over t_k w_k != 0.
      Vec vmax(ninf), vcnt(0), vsw(0), vswx(0), vstw(0), vstwx(0);
      auto p1 = [&](int64_t k, int64_t n) {
        Vec v = n == W ? Vec::loadu(xr + k) : Vec::set(vninf, Vec::loadu(xr + k, n), n);
        Vec wk = n == W ? Vec::loadu(w + k) : Vec::loadu(w + k, n);  // the tail's padding is 0
        vmax = at::vec::maximum(vmax, v);
        Vec valid = v != vninf;
        vcnt = vcnt + (one & valid);
        vsw = vsw + (wk & valid);
        vswx = vswx + ((wk * v) & valid);
        if (tr) {
          Vec tw = (n == W ? Vec::loadu(tr + k) : Vec::loadu(tr + k, n)) * wk;
          vstw = vstw + tw;
          vstwx = vstwx + ((tw * v) & (tw != zero));  // 0 * (-inf) = 0: a zero term ignores a masked class
        }
      };
      int64_t k = 0;
      for (; k + W <= K; k += W) p1(k, W);
      if (k < K) p1(k, K - k);
      const T mx = at::vec::vec_reduce_all<T>([](Vec& a, Vec& b) { return at::vec::maximum(a, b); }, vmax);
      const double cnt = hsum(vcnt), sw = hsum(vsw), swx = hsum(vswx);
      const T m = shift_of(mx);
      // Pass 2: the partition function; e^(x - m) parked in the gradient row.
      const double S = row_exp_sum(xr, K, m, g);
      const double lse = double(m) + std::log(S);
      const double share = cnt > 0 ? eps / cnt : 0.0;  // eps v_k / K'
      double stw, target_part;
      if (labels) {
        stw = double(w[y]);
        target_part = stw == 0.0 ? 0.0 : stw * (lse - double(xr[y]));
      } else {
        stw = hsum(vstw);
        target_part = stw * lse - hsum(vstwx);
      }
      const double smooth_part = share > 0 ? share * (sw * lse - swx) : 0.0;
      loss[r] = T((1.0 - eps) * target_part + smooth_part);
      if (g) {
        const double total = (1.0 - eps) * stw + share * sw;  // sum_k c_k w_k
        const Vec a = Vec(T(total / S)), sh = Vec(T(share)), ome = Vec(T(1.0 - eps));
        auto p3 = [&](int64_t k, int64_t n) {
          Vec e = n == W ? Vec::loadu(g + k) : Vec::loadu(g + k, n);
          Vec v = n == W ? Vec::loadu(xr + k) : Vec::loadu(xr + k, n);
          Vec wk = n == W ? Vec::loadu(w + k) : Vec::loadu(w + k, n);
          Vec gr = e * a - ((sh * wk) & (v != vninf));
          if (tr) gr = gr - ome * (n == W ? Vec::loadu(tr + k) : Vec::loadu(tr + k, n)) * wk;
          gr.store(g + k, n);
        };
        for (k = 0; k + W <= K; k += W) p3(k, W);
        if (k < K) p3(k, K - k);
        if (labels) g[y] -= T((1.0 - eps) * stw);
      }
      if (gtgt) {
        // d/dt_k = (1 - eps) w_k (lse - x_k); 0 where the term is 0 at a masked class
        // (w_k = 0 or (1 - eps) t_k = 0), as the reference's 0 * inf := 0.
        T* gt = gtgt + r * K;
        const Vec vl = Vec(T(lse)), ome = Vec(T(1.0 - eps));
        auto p4 = [&](int64_t k, int64_t n) {
          Vec v = n == W ? Vec::loadu(xr + k) : Vec::loadu(xr + k, n);
          Vec wk = n == W ? Vec::loadu(w + k) : Vec::loadu(w + k, n);
          Vec t = n == W ? Vec::loadu(tr + k) : Vec::loadu(tr + k, n);
          Vec val = ome * wk * (vl - v);
          Vec zero_term = (v == vninf) & ((wk == zero) | ((ome * t) == zero));
          Vec::blendv(val, zero, zero_term).store(gt + k, n);
        };
        for (k = 0; k + W <= K; k += W) p4(k, W);
        if (k < K) p4(k, K - k);
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> cross_entropy_weighted_fwd(
    const at::Tensor& logits,
    const at::Tensor& target,
    const at::Tensor& weight,
    int64_t ignore_index,
    double label_smoothing,
    bool need_grad,
    bool need_target_grad) {
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) > 0,
              "cross_entropy_weighted_fwd: logits must be [rows, K], K > 0; got ", logits.sizes());
  TORCH_CHECK(logits.device().is_cpu() && target.device().is_cpu() && weight.device().is_cpu(),
              "cross_entropy_weighted_fwd: CPU tensors only");
  TORCH_CHECK(logits.scalar_type() == at::kFloat || logits.scalar_type() == at::kDouble,
              "cross_entropy_weighted_fwd: float32 or float64 only; got ", logits.scalar_type());
  TORCH_CHECK(weight.dim() == 1 && weight.size(0) == logits.size(1) && weight.scalar_type() == logits.scalar_type(),
              "cross_entropy_weighted_fwd: weight must be [K] of the logits' dtype; got ", weight.scalar_type(), " ", weight.sizes());
  TORCH_CHECK(label_smoothing >= 0 && label_smoothing <= 1, "cross_entropy_weighted_fwd: label_smoothing outside [0, 1]");
  const bool is_labels = target.scalar_type() == at::kLong;
  if (is_labels) {
    TORCH_CHECK(target.dim() == 1 && target.size(0) == logits.size(0),
                "cross_entropy_weighted_fwd: labels must be [rows]; got ", target.sizes());
    TORCH_CHECK(!need_target_grad, "cross_entropy_weighted_fwd: integer labels have no gradient");
  } else {
    TORCH_CHECK(target.sizes() == logits.sizes() && target.scalar_type() == logits.scalar_type(),
                "cross_entropy_weighted_fwd: probability targets must match the logits' shape and dtype");
  }
  at::Tensor xl = logits.contiguous(), t = target.contiguous(), wc = weight.contiguous();
  at::Tensor loss = at::empty({xl.size(0)}, xl.options());
  at::Tensor gx = need_grad ? losslab_kernels::empty_output(xl) : at::empty({0}, xl.options());
  at::Tensor gt = need_target_grad ? losslab_kernels::empty_output(xl) : at::empty({0}, xl.options());
  if (xl.size(0) == 0) return {loss, gx, gt};
  AT_DISPATCH_FLOATING_TYPES(xl.scalar_type(), "cross_entropy_weighted_fwd", [&] {
    cross_entropy_weighted_kernel<scalar_t>(
        xl.data_ptr<scalar_t>(), is_labels ? t.data_ptr<int64_t>() : nullptr, is_labels ? nullptr : t.data_ptr<scalar_t>(),
        wc.data_ptr<scalar_t>(), loss.data_ptr<scalar_t>(), need_grad ? gx.data_ptr<scalar_t>() : nullptr,
        need_target_grad ? gt.data_ptr<scalar_t>() : nullptr, xl.size(0), xl.size(1), ignore_index, label_smoothing);
  });
  return {loss, gx, gt};
}

}  // namespace losslab_single_logit

TORCH_LIBRARY_FRAGMENT(losslab, m) {
  m.def("self_normalization_fwd(Tensor logits, Tensor labels, float alpha, bool need_grad) -> (Tensor, Tensor)");
  m.def("batch_cross_entropy_fwd(Tensor logits, Tensor labels, bool need_grad) -> (Tensor, Tensor)");
  m.def(
      "cross_entropy_weighted_fwd(Tensor logits, Tensor target, Tensor weight, int ignore_index, "
      "float label_smoothing, bool need_grad, bool need_target_grad) -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(losslab, CPU, m) {
  m.impl("self_normalization_fwd", &losslab_single_logit::self_normalization_fwd);
  m.impl("batch_cross_entropy_fwd", &losslab_single_logit::batch_cross_entropy_fwd);
  m.impl("cross_entropy_weighted_fwd", &losslab_single_logit::cross_entropy_weighted_fwd);
}
