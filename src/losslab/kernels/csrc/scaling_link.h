// The composite-Softmax scalings the kernels implement (seed 000, App. C): the Q-logit
// l = Q(z)/gamma, q(z) and q'(z) of one vector of scores, for the base shapes identity, exp,
// anti_exp, sinh and cosh with alpha, beta, an optional cap and a scale. Shared by
// composite_softmax_fwd (losslab_kernels.cpp) and the class-parallel operators
// (class_parallel.cpp).
#pragma once

#include <ATen/ATen.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

namespace losslab_kernels {

using at::vec::Vectorized;

enum class Shape { Identity = 0, Exp = 1, AntiExp = 2, Sinh = 3, Cosh = 4 };

// `who` names the operator in the error for an unknown shape.
inline Shape parse_shape(const std::string& name, const char* who) {
  if (name == "identity") return Shape::Identity;
  if (name == "exp") return Shape::Exp;
  if (name == "anti_exp") return Shape::AntiExp;
  if (name == "sinh") return Shape::Sinh;
  if (name == "cosh") return Shape::Cosh;
  TORCH_CHECK(false, who, ": no kernel for the scaling shape '", name, "'");
}

// The link of one vector of scores: the Q-logit l = Q/gamma, q and (optionally) q'.
template <typename scalar_t, Shape S, bool Capped>
struct Link {
  using Vec = Vectorized<scalar_t>;
  Vec alpha, beta, cap, neg_cap, c, c_over_ag, c_alpha, half, zero, one;
  double alpha_s, beta_s, cap_s;

  Link(double alpha_, double beta_, double cap_, double c_, double gamma_)
      : alpha(scalar_t(alpha_)),
        beta(scalar_t(beta_)),
        cap(scalar_t(cap_)),
        neg_cap(scalar_t(-cap_)),
        c(scalar_t(c_)),
        c_over_ag(scalar_t(c_ / (alpha_ * gamma_))),
        c_alpha(scalar_t(c_ * alpha_)),
        half(scalar_t(0.5)),
        zero(scalar_t(0)),
        one(scalar_t(1)),
        alpha_s(alpha_),
        beta_s(beta_),
        cap_s(cap_) {}

  // e^x: Sleef's (1 ULP, as torch.exp) or, with Fast in float32, ATen's polynomial
  // exp_u20: ~1.3x faster per call, relative error <= 3.7e-7 measured on [-80, 80]
  // (torch.exp: 6.4e-8), so a Q-logit moves by a few float32 ULPs of its own value.
  // It saturates near |x| = 88 instead of overflowing to inf and does not propagate
  // NaN, so it is used only on rows that fast_row() admits.
  template <bool Fast>
  static inline Vec exp_of(const Vec& x) {
    if constexpr (Fast && std::is_same_v<scalar_t, float>) {
      return x.exp_u20();
    } else {
      return x.exp();
    }
  }

  // Whether every score of a row with range [mn, mx] may take exp_of<true>: every
  // exponent stays within [-80, 80], and the Q-logits within [-64, 64] (lmn, lmx: the
  // logits at mn and mx, which bound |l| over the row as Q is convex or monotone), so
  // that the polynomial moves a Q-logit, and the log of a probability, by < 2.4e-5.
  inline bool fast_row(scalar_t mn, scalar_t mx, scalar_t lmn, scalar_t lmx) const {
    if constexpr (S == Shape::Identity || !std::is_same_v<scalar_t, float>) {
      return false;  // no exponential in the link, or double precision
    } else {
      double lo = alpha_s * (double(mn) - beta_s), hi = alpha_s * (double(mx) - beta_s);
      if (Capped) {
        lo = std::max(lo, -cap_s);
        hi = std::min(hi, cap_s);
      }
      const double lmax = std::max(std::abs(double(lmn)), std::abs(double(lmx)));
      return lo >= -80.0 && hi <= 80.0 && lmax <= 64.0;  // false for NaN
    }
  }

  // g(x), G(x) and g'(x) of the base shape; sinh/cosh take e^x once and 1/e^x.
  template <bool Fast = false>
  inline void base(const Vec& x, Vec& g, Vec& G, Vec* gp) const {
    if constexpr (S == Shape::Identity) {
      g = x;
      G = half * x * x;
      if (gp) *gp = one;
    } else if constexpr (S == Shape::Exp) {
      Vec e = exp_of<Fast>(x);
      g = e;
      G = e;
      if (gp) *gp = e;
    } else if constexpr (S == Shape::AntiExp) {
      Vec e = exp_of<Fast>(x.neg());
      g = e.neg();
      G = e;
      if (gp) *gp = e;
    } else {
      Vec e = exp_of<Fast>(x);
      Vec ei = one / e;
      Vec sh = half * (e - ei);
      Vec ch = half * (e + ei);
      if constexpr (S == Shape::Sinh) {
        g = sh;
        G = ch;
        if (gp) *gp = ch;
      } else {
        g = ch;
        G = sh;
        if (gp) *gp = sh;
      }
    }
  }

  // l = Q(z)/gamma and q(z); qp (if non-null) = q'(z), zero past the cap.
  inline void operator()(const Vec& z, Vec& l, Vec& q, Vec* qp = nullptr) const {
    eval<false>(z, l, q, qp);
  }

  template <bool Fast>
  inline void eval(const Vec& z, Vec& l, Vec& q, Vec* qp = nullptr) const {
    Vec x = (z - beta) * alpha;
    Vec g, G, gp;
    if constexpr (Capped) {
      Vec xc = at::vec::clamp(x, neg_cap, cap);
      base<Fast>(xc, g, G, qp ? &gp : nullptr);
      // Past the cap g is constant and G continues linearly (links.Link.primitive).
      l = (G + g * (x - xc)) * c_over_ag;
      if (qp) {
        Vec inside = (x.abs() <= cap);  // all-ones bit mask where |x| <= cap
        *qp = (gp * c_alpha) & inside;
      }
    } else {
      base<Fast>(x, g, G, qp ? &gp : nullptr);
      l = G * c_over_ag;
      if (qp) *qp = gp * c_alpha;
    }
    q = g * c;
  }

  // The same for one scalar (the row maxima): computed through a full vector so
  // that it is bit-identical to the per-element value.
  inline scalar_t logit(scalar_t z) const {
    Vec l, q;
    (*this)(Vec(z), l, q);
    scalar_t buf[Vec::size()];
    l.store(buf);
    return buf[0];
  }
};

// Smallest and largest score of a row of pred (ph) and of target (ps), K >= 1 each: every
// scaling's Q is convex or monotone, so a row's largest Q-logit is at one of these two.
template <typename scalar_t>
inline void row_ranges(const scalar_t* ph, const scalar_t* ps, int64_t K, scalar_t& mnh, scalar_t& mxh,
                       scalar_t& mns, scalar_t& mxs) {
  using Vec = Vectorized<scalar_t>;
  constexpr int64_t W = Vec::size();
  mnh = mxh = ph[0];
  mns = mxs = ps[0];
  Vec vmnh(mnh), vmxh(mxh), vmns(mns), vmxs(mxs);
  int64_t k = 0;
  for (; k + W <= K; k += W) {
    Vec a = Vec::loadu(ph + k), b = Vec::loadu(ps + k);
    vmnh = at::vec::minimum(vmnh, a);
    vmxh = at::vec::maximum(vmxh, a);
    vmns = at::vec::minimum(vmns, b);
    vmxs = at::vec::maximum(vmxs, b);
  }
  scalar_t t[4][W];
  vmnh.store(t[0]);
  vmxh.store(t[1]);
  vmns.store(t[2]);
  vmxs.store(t[3]);
  for (int i = 0; i < W; ++i) {
    mnh = std::min(mnh, t[0][i]);
    mxh = std::max(mxh, t[1][i]);
    mns = std::min(mns, t[2][i]);
    mxs = std::max(mxs, t[3][i]);
  }
  for (; k < K; ++k) {
    mnh = std::min(mnh, ph[k]);
    mxh = std::max(mxh, ph[k]);
    mns = std::min(mns, ps[k]);
    mxs = std::max(mxs, ps[k]);
  }
}

}  // namespace losslab_kernels
