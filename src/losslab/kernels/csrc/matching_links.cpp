// Fused CPU kernels of the scalar selective matching losses (seed 000) for every link
// shape of losslab.links with a closed-form primitive, compiled into the same library as
// losslab_kernels.cpp (this file adds operators with TORCH_LIBRARY_FRAGMENT).
//
// matching_link_fwd: the matching loss of a link h(z) = c g(x), x = alpha (z - beta),
// x_c = clamp(x, -cap, cap), elementwise (eq. 1-2), with both gradients in the same pass:
//
//   loss       = c/alpha * { D_G(x_c_hat, x_c) + (x_hat - x_c_hat) [g(x_c_hat) - g(x_c)] }
//   d/d pred   = c [g(x_c_hat) - g(x_c)]                                       (eq. 1)
//   d/d target = -c alpha (pred - target) g'(x_c) [|x| <= cap]
//
// D_G(a, b) = G(a) - G(b) - (a - b) g(b) is the Bregman divergence of the base primitive;
// the shapes for which links.py has a cancellation-free form (exp family, sigmoid, sin,
// logit, log, neg_log1m) use that form, the others the definition (as the reference does).
// Past a cap g is constant, so the divergence grows linearly (links.Link.bregman).
//
// composite_sigmoid_fwd: the composite-Sigmoid loss of a scaling q(z) = c g(x_c) with
// primitive Q(z) = c [G(x_c) + g(x_c)(x - x_c)] / alpha and regulariser gamma (eq. 24
// with G.1), u = Q/gamma, p = sigma(u):
//
//   loss       = gamma [sp(u_hat) - sp(u)] - (pred - target) q(target) p(target)       (24)
//              = gamma KL(Bern p(target) || Bern p(pred)) + p(target) D_Q(pred, target)
//   d/d pred   = q(pred) p(pred) - q(target) p(target)                                 (25)
//   d/d target = -(pred - target) p [q' + (1 - p) q^2 / gamma]  at target           (B.1)
//
// (add and subtract gamma (u_hat - u) p(target)). Both terms are non-negative for a
// non-decreasing q and neither is a difference of two large numbers, where the
// definition subtracts two softplus values of size Q (up to e^50 for a capped exp).
//
// Scalar link parameters are kernel arguments; shape parameters (SmeLU's c, Huber's
// delta, the power's d, a staircase's or piecewise-linear link's table) come in one
// float[] argument. With sum_only the loss is summed in the pass, not stored.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include "output_buffers.h"
#include "vec_sum.h"

#include <cmath>
#include <string>
#include <vector>

namespace losslab_matching {

using at::vec::Vectorized;

// The first five share composite_softmax_fwd's numbering.
enum class Shape {
  Identity = 0, Exp, AntiExp, Sinh, Cosh, Sigmoid, Tanh, Arcsinh, Smelu, Huber, Step, Sign, Logit, Power,
  Sin, Arctan, Arcsin, Arctanh, Tan, SignLog1p, NegLog1m, Log, Staircase, PiecewiseLinear
};

Shape parse_shape(const std::string& name, const char* op) {
  static const char* names[] = {"identity", "exp", "anti_exp", "sinh", "cosh", "sigmoid", "tanh", "arcsinh",
                                "smelu", "huber", "step", "sign", "logit", "power", "sin", "arctan", "arcsin",
                                "arctanh", "tan", "sign_log1p", "neg_log1m", "log", "staircase", "piecewise_linear"};
  for (int i = 0; i < int(sizeof(names) / sizeof(names[0])); ++i)
    if (name == names[i]) return Shape(i);
  TORCH_CHECK(false, op, ": no kernel for the link shape '", name, "'");
}

// Number of entries of the float[] params argument each shape expects (-1: an even, non-zero count).
int n_params(Shape s) {
  switch (s) {
    case Shape::Smelu: case Shape::Huber: case Shape::Power: return 1;
    case Shape::Staircase: case Shape::PiecewiseLinear: return -1;
    default: return 0;
  }
}

template <typename scalar_t>
struct Vals {
  using Vec = Vectorized<scalar_t>;
  Vec g, G, gp;
  Vec aux, aux2;  // sigmoid: sigma(-x) and log1p(e^-|x|), kept for its divergence
};

// g, G, g' of one base shape and the divergence D_G, on vectors of (clamped) x.
template <typename scalar_t, Shape S>
struct Base {
  using Vec = Vectorized<scalar_t>;
  const Vec zero{scalar_t(0)}, one{scalar_t(1)}, half{scalar_t(0.5)}, two{scalar_t(2)};
  Vec p0;                          // c (SmeLU), delta (Huber), d (power)
  std::vector<scalar_t> tk, ty, tm;  // staircase: thresholds, heights; piecewise: knots, values, slopes

  explicit Base(c10::ArrayRef<double> params) : p0(scalar_t(params.empty() ? 0.0 : params[0])) {
    if constexpr (S == Shape::Staircase || S == Shape::PiecewiseLinear) {
      const size_t n = params.size() / 2;
      for (size_t i = 0; i < n; ++i) {
        tk.push_back(scalar_t(params[i]));
        ty.push_back(scalar_t(params[n + i]));
      }
      if constexpr (S == Shape::PiecewiseLinear)
        for (size_t i = 0; i + 1 < n; ++i) tm.push_back(scalar_t((params[n + i + 1] - params[n + i]) / (params[i + 1] - params[i])));
    }
  }

  static Vec sgn(const Vec& x) {  // torch.sign: 0 at 0
    const Vec one(scalar_t(1)), zero(scalar_t(0));
    return (one & (x > zero)) - (one & (x < zero));
  }
  // xlogy(a, b) = a log b with 0 log 0 = 0 (a NaN b stays NaN).
  static Vec xlogy(const Vec& a, const Vec& b) {
    const Vec zero(scalar_t(0));
    Vec v = a * b.log();
    return Vec::blendv(v, zero, (a == zero) & (b == b));
  }
  // e^x (expm1(d) - d) for |d| <= 1, else e^xh - e^x (1 + d): links._exp_divergence.
  static Vec expdiv(const Vec& ex, const Vec& exh, const Vec& d, const Vec& em1d, const Vec& small) {
    const Vec one(scalar_t(1)), zero(scalar_t(0));
    Vec ds = Vec::blendv(zero, d, small);
    Vec near = ex * (em1d - ds);
    Vec far = exh - ex * (one + d);
    return Vec::blendv(far, near, small);
  }

  inline Vals<scalar_t> eval(const Vec& x) const {
    Vals<scalar_t> v;
    if constexpr (S == Shape::Identity) {
      v.g = x; v.G = half * x * x; v.gp = one;
    } else if constexpr (S == Shape::Exp) {
      Vec e = x.exp();
      v.g = e; v.G = e; v.gp = e;
    } else if constexpr (S == Shape::AntiExp) {
      Vec e = x.neg().exp();
      v.g = e.neg(); v.G = e; v.gp = e;
    } else if constexpr (S == Shape::Sinh || S == Shape::Cosh) {
      // From expm1(|x|): sinh exactly odd, cosh even, sinh accurate near 0.
      Vec a = x.abs();
      Vec em = a.expm1();
      Vec ei = one / (one + em);
      Vec sh = half * em * (one + ei);
      sh = Vec::blendv(sh, sh.neg(), x < zero);
      Vec ch = half * (one + em + ei);
      if constexpr (S == Shape::Sinh) { v.g = sh; v.G = ch; v.gp = ch; }
      else { v.g = ch; v.G = sh; v.gp = sh; }
    } else if constexpr (S == Shape::Sigmoid) {
      Vec e = x.abs().neg().exp();
      Vec r = one / (one + e), re = e * r;
      Vec pos = x >= zero;
      Vec s = Vec::blendv(re, r, pos), sn = Vec::blendv(r, re, pos);
      Vec sp = e.log1p();
      v.g = s; v.gp = s * sn; v.G = at::vec::maximum(x, zero) + sp;
      v.aux = sn; v.aux2 = sp;
    } else if constexpr (S == Shape::Tanh) {
      Vec t = x.tanh();
      Vec a = x.abs();
      v.g = t; v.gp = one - t * t;
      v.G = a + (a * Vec(scalar_t(-2))).exp().log1p() - Vec(scalar_t(std::log(2.0)));
    } else if constexpr (S == Shape::Arcsinh) {
      Vec h = x.hypot(one);
      Vec as = x.asinh();
      v.g = as; v.gp = one / h; v.G = x * as - h;
    } else if constexpr (S == Shape::Smelu) {
      const Vec c = p0;
      v.g = at::vec::clamp((x + c) / (two * c), zero, one);
      v.gp = (one / (two * c)) & (x.abs() <= c);
      Vec r = at::vec::maximum(x + c, zero);
      v.G = Vec::blendv(r * r / (two * two * c), x, x >= c);
    } else if constexpr (S == Shape::Huber) {
      const Vec d = p0;
      Vec in = x.abs() <= d;
      v.g = at::vec::clamp(x, d.neg(), d);
      v.gp = one & in;
      v.G = Vec::blendv(d * (x.abs() - half * d), half * x * x, in);
    } else if constexpr (S == Shape::Step) {
      v.g = one & (x > zero); v.gp = zero; v.G = at::vec::maximum(x, zero);
    } else if constexpr (S == Shape::Sign) {
      v.g = sgn(x); v.gp = zero; v.G = x.abs();
    } else if constexpr (S == Shape::Logit) {
      Vec om = one - x;
      v.g = (x / om).log(); v.gp = one / (x * om); v.G = xlogy(x, x) + xlogy(om, om);
    } else if constexpr (S == Shape::Power) {
      const Vec d = p0;
      Vec a = x.abs();
      v.g = sgn(x) * a.pow(d); v.gp = d * a.pow(d - one); v.G = a.pow(d + one) / (d + one);
    } else if constexpr (S == Shape::Sin) {
      v.g = x.sin(); v.gp = x.cos(); v.G = v.gp.neg();
    } else if constexpr (S == Shape::Arctan) {
      Vec at_ = x.atan();
      Vec small = x.abs() < one;
      Vec xs = Vec::blendv(zero, x, small);
      // 1/2 log(1 + x^2): log1p for small x, log(hypot) for large x (no x^2 overflow).
      Vec hl = Vec::blendv(x.hypot(one).log(), half * (xs * xs).log1p(), small);
      v.g = at_; v.gp = one / (one + x * x); v.G = x * at_ - hl;
    } else if constexpr (S == Shape::Arcsin) {
      Vec w = (one - x) * (one + x);
      Vec as = x.asin();
      v.g = as; v.gp = w.rsqrt(); v.G = x * as + w.sqrt();
    } else if constexpr (S == Shape::Arctanh) {
      Vec ath = x.atanh();
      v.g = ath; v.gp = one / ((one - x) * (one + x)); v.G = x * ath + half * (x.neg().log1p() + x.log1p());
    } else if constexpr (S == Shape::Tan) {
      Vec t = x.tan();
      v.g = t; v.gp = one + t * t; v.G = x.cos().log().neg();
    } else if constexpr (S == Shape::SignLog1p) {
      Vec a = x.abs();
      Vec l = a.log1p();
      v.g = sgn(x) * l; v.gp = one / (one + a); v.G = (one + a) * l - a;
    } else if constexpr (S == Shape::NegLog1m) {
      Vec om = one - x;
      v.g = x.neg().log1p().neg(); v.gp = one / om; v.G = xlogy(om, om) + x;
    } else if constexpr (S == Shape::Log) {
      v.g = x.log(); v.gp = one / x; v.G = xlogy(x, x) - x;
    } else if constexpr (S == Shape::Staircase) {
      Vec g = zero, G = zero;
      for (size_t i = 0; i < tk.size(); ++i) {
        const Vec t(tk[i]), a(ty[i]);
        g = g + (a & (x > t));
        G = G + a * at::vec::maximum(x - t, zero);
      }
      v.g = g; v.gp = zero; v.G = G;
    } else {  // PiecewiseLinear: g = y0 + sum_i m_i c_i, c_i = clamp(x, k_i, k_i+1) - k_i
      const size_t n = tk.size();
      const Vec k0(tk[0]);
      Vec g(ty[0]), G = Vec(ty[0]) * (x - k0), gp = zero;
      for (size_t i = 0; i + 1 < n; ++i) {
        const Vec lo(tk[i]), hi(tk[i + 1]), m(tm[i]);
        Vec c = at::vec::clamp(x, lo, hi) - lo;
        g = g + m * c;
        // integral of m_i c_i(t) from k_0: c^2/2 inside the segment, linear beyond it
        G = G + m * (half * c * c + (hi - lo) * at::vec::maximum(x - hi, zero));
        Vec seg = (x >= lo) & (i + 2 == n ? (x <= hi) : (x < hi));
        gp = gp + (m & seg);
      }
      v.g = g; v.G = G; v.gp = gp;
    }
    return v;
  }

  // D_G(xh, x) from the values eval() returned at both points.
  inline Vec div(const Vec& xh, const Vec& x, const Vals<scalar_t>& h, const Vals<scalar_t>& s) const {
    if constexpr (S == Shape::Identity) {
      Vec d = xh - x;
      return half * d * d;
    } else if constexpr (S == Shape::Exp || S == Shape::AntiExp || S == Shape::Sinh || S == Shape::Cosh) {
      Vec d = xh - x;
      Vec small = d.abs() <= one;
      Vec ds = Vec::blendv(zero, d, small);
      Vec em = ds.expm1();               // expm1(d)
      Vec emn = em.neg() / (one + em);   // expm1(-d)
      if constexpr (S == Shape::Exp) return expdiv(s.g, h.g, d, em, small);
      if constexpr (S == Shape::AntiExp) return expdiv(s.G, h.G, d.neg(), emn, small);
      // e^{+-x} from cosh and sinh: e^x = ch + sh, e^-x = ch - sh
      Vec chs = S == Shape::Sinh ? s.G : s.g, shs = S == Shape::Sinh ? s.g : s.G;
      Vec chh = S == Shape::Sinh ? h.G : h.g, shh = S == Shape::Sinh ? h.g : h.G;
      Vec pos = expdiv(chs + shs, chh + shh, d, em, small);
      Vec neg = expdiv(chs - shs, chh - shh, d.neg(), emn, small);
      return S == Shape::Sinh ? half * (pos + neg) : half * (pos - neg);
    } else if constexpr (S == Shape::Sigmoid) {
      // KL(Bern sigma(x) || Bern sigma(xh)) with log sigma(u) = min(u, 0) - log1p(e^-|u|)
      return s.g * (at::vec::minimum(x, zero) - at::vec::minimum(xh, zero)) +
             s.aux * (at::vec::minimum(x.neg(), zero) - at::vec::minimum(xh.neg(), zero)) + (h.aux2 - s.aux2);
    } else if constexpr (S == Shape::Sin) {
      // cos x 2 sin^2(d/2) + sin x (sin d - d): links._sin_divergence
      Vec d = xh - x;
      Vec sh = (half * d).sin();
      return s.gp * two * sh * sh + s.g * (d.sin() - d);
    } else if constexpr (S == Shape::Logit) {
      Vec omh = one - xh, om = one - x;
      return xlogy(xh, xh / x) + xlogy(omh, omh / om);
    } else if constexpr (S == Shape::NegLog1m) {
      Vec uh = one - xh, u = one - x;
      return xlogy(uh, uh / u) - uh + u;
    } else if constexpr (S == Shape::Log) {
      return xlogy(xh, xh / x) - xh + x;
    } else {
      return h.G - s.G - (xh - x) * s.g;
    }
  }
};

using losslab_kernels::hsum;

struct Scalars {
  double alpha, beta, cap, scale, gamma;
};

// One elementwise pass over n elements; Composite selects eq. (24) instead of eq. (2).
template <typename scalar_t, Shape S, bool Capped, bool Composite>
double link_kernel(const scalar_t* pred, const scalar_t* target, scalar_t* loss, scalar_t* gp, scalar_t* gt, int64_t n,
                   const Scalars& sc, const Base<scalar_t, S>& base) {
  using Vec = Vectorized<scalar_t>;
  constexpr int64_t W = Vec::size();
  const Vec alpha(scalar_t(sc.alpha)), beta(scalar_t(sc.beta)), cap(scalar_t(sc.cap)), ncap(scalar_t(-sc.cap));
  const Vec c(scalar_t(sc.scale)), c_over_a(scalar_t(sc.scale / sc.alpha)), c_alpha(scalar_t(sc.scale * sc.alpha));
  const Vec gamma(scalar_t(sc.gamma)), inv_gamma(scalar_t(1.0 / sc.gamma)), zero(scalar_t(0)), one(scalar_t(1));
  return at::parallel_reduce(0, n, 1 << 14, 0.0, [&](int64_t i0, int64_t i1, double acc) {
    Vec sum(0);
    auto step = [&](int64_t i, int64_t m) {
      Vec zh = m == W ? Vec::loadu(pred + i) : Vec::loadu(pred + i, m);
      Vec zs = m == W ? Vec::loadu(target + i) : Vec::loadu(target + i, m);
      Vec xh = (zh - beta) * alpha, xs = (zs - beta) * alpha;
      Vec xhc = xh, xsc = xs;
      if constexpr (Capped) {
        xhc = at::vec::clamp(xh, ncap, cap);
        xsc = at::vec::clamp(xs, ncap, cap);
      }
      Vals<scalar_t> vh = base.eval(xhc), vs = base.eval(xsc);
      Vec D = base.div(xhc, xsc, vh, vs);
      if constexpr (Capped) D = D + (xh - xhc) * (vh.g - vs.g);
      Vec gps = vs.gp * c_alpha;  // h'(target), zero past the cap
      if constexpr (Capped) gps = gps & (xs.abs() <= cap);
      Vec l, dp, dt;
      if constexpr (!Composite) {
        l = D * c_over_a;
        dp = (vh.g - vs.g) * c;
        dt = (zh - zs) * gps;
      } else {
        // Q = c [G + g (x - x_c)] / alpha, q = c g, u = Q / gamma
        Vec Gh = vh.G, Gs = vs.G;
        if constexpr (Capped) {
          Gh = Gh + vh.g * (xh - xhc);
          Gs = Gs + vs.g * (xs - xsc);
        }
        Vec uh = Gh * c_over_a * inv_gamma, us = Gs * c_over_a * inv_gamma;
        Vec qh = vh.g * c, qs = vs.g * c;
        // sigma(u), sigma(-u), log1p(e^-|u|) from e = e^-|u|
        Vec eh = uh.abs().neg().exp(), es = us.abs().neg().exp();
        Vec rh = one / (one + eh), rs = one / (one + es);
        Vec ph = Vec::blendv(eh * rh, rh, uh >= zero);
        Vec ps = Vec::blendv(es * rs, rs, us >= zero), pns = Vec::blendv(rs, es * rs, us >= zero);
        Vec kl = ps * (at::vec::minimum(us, zero) - at::vec::minimum(uh, zero)) +
                 pns * (at::vec::minimum(us.neg(), zero) - at::vec::minimum(uh.neg(), zero)) + (eh.log1p() - es.log1p());
        l = gamma * kl + ps * (D * c_over_a);
        dp = qh * ph - qs * ps;
        // p (1 - p) q^2 as (|q| sqrt(e) r)^2: q^2 alone overflows float32 for a capped exp.
        Vec w = qs.abs() * es.sqrt() * rs;
        dt = (zh - zs) * (ps * gps + w * w * inv_gamma);
      }
      if (loss) l.store(loss + i, m);
      else sum = sum + (m == W ? l : Vec::set(zero, l, m));
      if (gp) dp.store(gp + i, m);
      if (gt) dt.neg().store(gt + i, m);
    };
    int64_t i = i0;
    for (; i + W <= i1; i += W) step(i, W);
    if (i < i1) step(i, i1 - i);
    return acc + (loss ? 0.0 : hsum(sum));
  }, [](double a, double b) { return a + b; });
}

template <typename scalar_t, Shape S, bool Composite>
double run_shape(const at::Tensor& p, const at::Tensor& t, scalar_t* loss, scalar_t* gp, scalar_t* gt,
                 const Scalars& sc, c10::ArrayRef<double> params) {
  Base<scalar_t, S> base(params);
  const scalar_t* pp = p.data_ptr<scalar_t>();
  const scalar_t* tp = t.data_ptr<scalar_t>();
  if (std::isfinite(sc.cap)) return link_kernel<scalar_t, S, true, Composite>(pp, tp, loss, gp, gt, p.numel(), sc, base);
  return link_kernel<scalar_t, S, false, Composite>(pp, tp, loss, gp, gt, p.numel(), sc, base);
}

template <typename scalar_t, bool Composite>
double run(Shape s, const at::Tensor& p, const at::Tensor& t, scalar_t* loss, scalar_t* gp, scalar_t* gt,
           const Scalars& sc, c10::ArrayRef<double> params) {
#define LL_CASE(NAME) \
  case Shape::NAME: return run_shape<scalar_t, Shape::NAME, Composite>(p, t, loss, gp, gt, sc, params);
  switch (s) {
    LL_CASE(Identity) LL_CASE(Exp) LL_CASE(AntiExp) LL_CASE(Sinh) LL_CASE(Cosh) LL_CASE(Sigmoid) LL_CASE(Tanh)
    LL_CASE(Arcsinh) LL_CASE(Smelu) LL_CASE(Huber) LL_CASE(Step) LL_CASE(Sign) LL_CASE(Logit) LL_CASE(Power)
    LL_CASE(Sin) LL_CASE(Arctan) LL_CASE(Arcsin) LL_CASE(Arctanh) LL_CASE(Tan) LL_CASE(SignLog1p) LL_CASE(NegLog1m)
    LL_CASE(Log) LL_CASE(Staircase) LL_CASE(PiecewiseLinear)
  }
#undef LL_CASE
  return 0.0;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> fwd(
    const char* op, bool composite, const at::Tensor& pred, const at::Tensor& target, c10::string_view shape,
    double alpha, double beta, double cap, double scale, c10::ArrayRef<double> params, double gamma,
    bool need_pred_grad, bool need_target_grad, bool sum_only) {
  TORCH_CHECK(target.sizes() == pred.sizes(), op, ": pred and target shapes differ: ", pred.sizes(), " and ", target.sizes());
  TORCH_CHECK(pred.scalar_type() == target.scalar_type(), op, ": dtypes differ");
  TORCH_CHECK(pred.device().is_cpu() && target.device().is_cpu(), op, ": CPU tensors only");
  TORCH_CHECK(pred.scalar_type() == at::kFloat || pred.scalar_type() == at::kDouble, op,
              ": float32 or float64 only; got ", pred.scalar_type());
  TORCH_CHECK(alpha > 0 && scale > 0 && cap > 0 && gamma > 0, op, ": alpha, scale, cap and gamma must be positive");
  const Shape S = parse_shape(std::string(shape), op);
  const int np = n_params(S);
  TORCH_CHECK(np >= 0 ? int(params.size()) == np : (params.size() >= 2 && params.size() % 2 == 0), op,
              ": the link shape '", std::string(shape), "' takes ", np >= 0 ? std::to_string(np) : std::string("an even number (>= 2) of"),
              " params; got ", params.size());
  at::Tensor p = pred.contiguous(), t = target.contiguous();
  at::Tensor loss = sum_only ? at::zeros({}, p.options()) : losslab_kernels::empty_output(p);
  at::Tensor gp = need_pred_grad ? losslab_kernels::empty_output(p) : at::empty({0}, p.options());
  at::Tensor gt = need_target_grad ? losslab_kernels::empty_output(p) : at::empty({0}, p.options());
  if (p.numel() == 0) return {loss, gp, gt};
  const Scalars sc{alpha, beta, cap, scale, gamma};
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "matching_link_fwd", [&] {
    scalar_t* lp = sum_only ? nullptr : loss.data_ptr<scalar_t>();
    scalar_t* gpp = need_pred_grad ? gp.data_ptr<scalar_t>() : nullptr;
    scalar_t* gtp = need_target_grad ? gt.data_ptr<scalar_t>() : nullptr;
    double total = composite ? run<scalar_t, true>(S, p, t, lp, gpp, gtp, sc, params)
                             : run<scalar_t, false>(S, p, t, lp, gpp, gtp, sc, params);
    if (sum_only) loss.fill_(total);
  });
  return {loss, gp, gt};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> matching_link_fwd(
    const at::Tensor& pred, const at::Tensor& target, c10::string_view shape, double alpha, double beta, double cap,
    double scale, at::ArrayRef<double> params, bool need_pred_grad, bool need_target_grad, bool sum_only) {
  return fwd("matching_link_fwd", false, pred, target, shape, alpha, beta, cap, scale, params, 1.0,
             need_pred_grad, need_target_grad, sum_only);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> composite_sigmoid_fwd(
    const at::Tensor& pred, const at::Tensor& target, c10::string_view shape, double alpha, double beta, double cap,
    double scale, at::ArrayRef<double> params, double gamma, bool need_pred_grad, bool need_target_grad, bool sum_only) {
  return fwd("composite_sigmoid_fwd", true, pred, target, shape, alpha, beta, cap, scale, params, gamma,
             need_pred_grad, need_target_grad, sum_only);
}

}  // namespace losslab_matching

TORCH_LIBRARY_FRAGMENT(losslab, m) {
  m.def(
      "matching_link_fwd(Tensor pred, Tensor target, str shape, float alpha, float beta, float cap, float scale, "
      "float[] params, bool need_pred_grad, bool need_target_grad, bool sum_only=False) -> (Tensor, Tensor, Tensor)");
  m.def(
      "composite_sigmoid_fwd(Tensor pred, Tensor target, str shape, float alpha, float beta, float cap, float scale, "
      "float[] params, float gamma, bool need_pred_grad, bool need_target_grad, bool sum_only=False) "
      "-> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(losslab, CPU, m) {
  m.impl("matching_link_fwd", &losslab_matching::matching_link_fwd);
  m.impl("composite_sigmoid_fwd", &losslab_matching::composite_sigmoid_fwd);
}
