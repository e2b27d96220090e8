"""Triton kernels of losslab.kernels.triton_kernels (imports ``triton``: load it lazily).

Triton resolves the helpers a kernel calls through the module's globals, so the
kernels live at module level here; triton_kernels.py imports this module on the
first launch, after ``TRITON_INTERPRET`` has had its chance to be set.
"""
import triton
import triton.language as tl


@triton.jit
def _param(hi, lo, DT: tl.constexpr):
    # A double passed as float32 hi + lo (Triton passes Python floats as float32).
    if DT == tl.float64:
        return tl.cast(hi, tl.float64) + tl.cast(lo, tl.float64)
    else:
        return tl.cast(hi, DT)


@triton.jit
def _link(z, alpha, beta, cap, c, c_over_ag, c_alpha, SHAPE: tl.constexpr, CAPPED: tl.constexpr):
    # Q-logit l = Q(z)/gamma, q(z) and q'(z) of the composite Softmax (seed 000
    # eq. 24-25, App. C): x = alpha (z - beta), x_c = clamp(x, -cap, cap),
    # Q(z) = c [G(x_c) + g(x_c)(x - x_c)] / alpha, q(z) = c g(x_c), q' = c alpha g'(x) inside the cap.
    x = (z - beta) * alpha
    if CAPPED:
        xc = tl.minimum(tl.maximum(x, -cap), cap)
    else:
        xc = x
    if SHAPE == 0:  # identity: g = x, G = x^2/2
        g = xc
        G = 0.5 * xc * xc
        gp = tl.full(xc.shape, 1.0, xc.dtype)
    elif SHAPE == 1:  # exp: g = G = g' = e^x
        e = tl.exp(xc)
        g = e
        G = e
        gp = e
    elif SHAPE == 2:  # anti_exp: g = -e^-x, G = g' = e^-x
        e = tl.exp(-xc)
        g = -e
        G = e
        gp = e
    else:  # sinh / cosh from one exponential: e^|x| and 1/e^|x|
        # Taken at |x| so that sinh is exactly odd and cosh exactly even, as torch's are:
        # at ±1e4 the Q-logits reach ~1e12, where one ulp of difference between
        # Q(z) and Q(-z) would move the whole softmax mass to one of them.
        e = tl.exp(tl.abs(xc))
        ei = 1.0 / e
        sh = tl.where(xc < 0.0, -0.5 * (e - ei), 0.5 * (e - ei))
        ch = 0.5 * (e + ei)
        if SHAPE == 3:
            g = sh
            G = ch
            gp = ch
        else:
            g = ch
            G = sh
            gp = sh
    if CAPPED:
        # Past the cap g is constant and G continues linearly (links.Link.primitive).
        l = (G + g * (x - xc)) * c_over_ag
        qp = tl.where(tl.abs(x) <= cap, gp * c_alpha, 0.0)
    else:
        l = G * c_over_ag
        qp = gp * c_alpha
    return l, g * c, qp


@triton.jit
def _rescale(m_old, m_new):
    # Factor that moves a running sum from shift m_old to shift m_new (infinite shifts
    # are 0). While the max is still -inf the sum holds no mass and keeps factor 1:
    # e^(0 - m_new) alone would overflow and make 0 * inf = NaN.
    return tl.where(m_old == -float("inf"), 1.0, tl.exp(_finite_or_zero(m_old) - _finite_or_zero(m_new)))


@triton.jit
def _finite_or_zero(m):
    # As torch.logsumexp: an infinite max is not subtracted.
    return tl.where((m == float("inf")) | (m == -float("inf")), 0.0, m)


@triton.jit
def composite_softmax_kernel(
    pred_ptr, target_ptr, loss_ptr, gpred_ptr, gtarget_ptr,
    K, stride_row,
    alpha_hi, alpha_lo, beta_hi, beta_lo, cap_hi, cap_lo, c_hi, c_lo,
    cag_hi, cag_lo, ca_hi, ca_lo, gamma_hi, gamma_lo,
    SHAPE: tl.constexpr, CAPPED: tl.constexpr, DT: tl.constexpr,
    NEED_PRED_GRAD: tl.constexpr, NEED_TARGET_GRAD: tl.constexpr, BLOCK_K: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    base = row * stride_row
    alpha = _param(alpha_hi, alpha_lo, DT)
    beta = _param(beta_hi, beta_lo, DT)
    cap = _param(cap_hi, cap_lo, DT)
    c = _param(c_hi, c_lo, DT)
    c_over_ag = _param(cag_hi, cag_lo, DT)
    c_alpha = _param(ca_hi, ca_lo, DT)
    gamma = _param(gamma_hi, gamma_lo, DT)
    cols = tl.arange(0, BLOCK_K)

    # Pass 1: online log-sum-exp of both rows' Q-logits and the linear term of (29).
    m_h = tl.full((), -float("inf"), DT)
    m_s = tl.full((), -float("inf"), DT)
    S_h = tl.zeros((), DT)
    S_s = tl.zeros((), DT)
    lin = tl.zeros((), DT)
    for start in range(0, K, BLOCK_K):
        offs = start + cols
        mask = offs < K
        zh = tl.load(pred_ptr + base + offs, mask=mask, other=0.0).to(DT)
        zs = tl.load(target_ptr + base + offs, mask=mask, other=0.0).to(DT)
        lh, qh, _ = _link(zh, alpha, beta, cap, c, c_over_ag, c_alpha, SHAPE, CAPPED)
        ls, qs, _ = _link(zs, alpha, beta, cap, c, c_over_ag, c_alpha, SHAPE, CAPPED)
        lh = tl.where(mask, lh, -float("inf"))
        ls = tl.where(mask, ls, -float("inf"))
        new_h = tl.maximum(m_h, tl.max(lh, axis=0))
        new_s = tl.maximum(m_s, tl.max(ls, axis=0))
        S_h = S_h * _rescale(m_h, new_h) + tl.sum(tl.exp(lh - _finite_or_zero(new_h)), axis=0)
        es = tl.exp(ls - _finite_or_zero(new_s))
        rescale_s = _rescale(m_s, new_s)
        S_s = S_s * rescale_s + tl.sum(es, axis=0)
        lin = lin * rescale_s + tl.sum(tl.where(mask, (zh - zs) * qs * es, 0.0), axis=0)
        m_h = new_h
        m_s = new_s
    mh = _finite_or_zero(m_h)
    ms = _finite_or_zero(m_s)
    loss = gamma * (tl.log(S_h) + mh) - gamma * (tl.log(S_s) + ms) - lin / S_s
    tl.store(loss_ptr + row, loss)

    # Pass 2: eq. (30) for pred; for target the Hessian-vector product of (B.2):
    # d/ds_j = -p_j [q'_j d_j + q_j (q_j d_j - A) / gamma], d = pred - target, A = sum_k p_k q_k d_k.
    if NEED_PRED_GRAD or NEED_TARGET_GRAD:
        inv_h = 1.0 / S_h
        inv_s = 1.0 / S_s
        A = lin / S_s
        for start in range(0, K, BLOCK_K):
            offs = start + cols
            mask = offs < K
            zh = tl.load(pred_ptr + base + offs, mask=mask, other=0.0).to(DT)
            zs = tl.load(target_ptr + base + offs, mask=mask, other=0.0).to(DT)
            ls, qs, qps = _link(zs, alpha, beta, cap, c, c_over_ag, c_alpha, SHAPE, CAPPED)
            ps = tl.exp(ls - ms) * inv_s
            if NEED_PRED_GRAD:
                lh, qh, _ = _link(zh, alpha, beta, cap, c, c_over_ag, c_alpha, SHAPE, CAPPED)
                ph = tl.exp(lh - mh) * inv_h
                tl.store(gpred_ptr + base + offs, qh * ph - qs * ps, mask=mask)
            if NEED_TARGET_GRAD:
                d = zh - zs
                gt = -(ps * (qps * d + qs * (qs * d - A) / gamma))
                tl.store(gtarget_ptr + base + offs, gt, mask=mask)


@triton.jit
def cross_entropy_kernel(
    x_ptr, labels_ptr, probs_ptr, loss_ptr, gx_ptr, gt_ptr,
    K, stride_row, ignore_index, eps_hi, eps_lo,
    HAS_PROBS: tl.constexpr, DT: tl.constexpr,
    NEED_GRAD: tl.constexpr, NEED_TARGET_GRAD: tl.constexpr, BLOCK_K: tl.constexpr,
):
    # t_k = (1 - eps) y_k + eps v_k / K'  (v_k = [x_k != -inf], K' = sum_k v_k)
    # loss = sum_k t_k (lse - x_k),  d/dx_k = p_k sum_j t_j - t_k,  d/dt_k = (1 - eps)(lse - x_k)
    row = tl.program_id(0).to(tl.int64)
    base = row * stride_row
    eps = _param(eps_hi, eps_lo, DT)
    cols = tl.arange(0, BLOCK_K)
    ninf = -float("inf")
    if HAS_PROBS:
        y = 0
        live = K > 0
    else:
        y = tl.load(labels_ptr + row)
        live = y != ignore_index
    # An ignored row is not read: its loads see a row of length 0.
    K_read = tl.where(live, K, 0)

    # Pass 1: online log-sum-exp; K'; sum of unmasked logits; sum_k t_k and sum_k t_k x_k.
    m = tl.full((), ninf, DT)
    S = tl.zeros((), DT)
    cnt = tl.zeros((), DT)
    sx = tl.zeros((), DT)
    st = tl.zeros((), DT)
    stx = tl.zeros((), DT)
    for start in range(0, K, BLOCK_K):
        offs = start + cols
        mask = offs < K_read
        v = tl.load(x_ptr + base + offs, mask=mask, other=ninf).to(DT)
        valid = v != ninf
        new = tl.maximum(m, tl.max(v, axis=0))
        S = S * _rescale(m, new) + tl.sum(
            tl.exp(v - _finite_or_zero(new)), axis=0
        )
        m = new
        cnt += tl.sum(valid.to(DT), axis=0)
        sx += tl.sum(tl.where(valid, v, 0.0), axis=0)
        if HAS_PROBS:
            t = tl.load(probs_ptr + base + offs, mask=mask, other=0.0).to(DT)
            st += tl.sum(t, axis=0)
            stx += tl.sum(tl.where(t != 0.0, t * v, 0.0), axis=0)  # 0 * (-inf) = 0
    lse = _finite_or_zero(m) + tl.log(S)
    if HAS_PROBS:
        target_part = st * lse - stx
    else:
        st = 1.0
        x_y = tl.load(x_ptr + base + tl.where(live, y, 0)).to(DT)
        target_part = lse - x_y
    smooth_part = tl.where(eps > 0.0, eps * (lse - sx / tl.maximum(cnt, 1.0)), 0.0)
    loss = (1.0 - eps) * target_part + smooth_part
    tl.store(loss_ptr + row, tl.where(live, loss, 0.0))

    if NEED_GRAD or NEED_TARGET_GRAD:
        share = tl.where(cnt > 0.0, eps / tl.maximum(cnt, 1.0), 0.0)
        total_t = (1.0 - eps) * st + tl.where(cnt > 0.0, eps, 0.0)
        a = total_t / S
        for start in range(0, K, BLOCK_K):
            offs = start + cols
            mask = offs < K
            v = tl.load(x_ptr + base + offs, mask=offs < K_read, other=ninf).to(DT)
            if NEED_GRAD:
                gr = tl.exp(v - _finite_or_zero(m)) * a - tl.where(v != ninf, share, 0.0)
                if HAS_PROBS:
                    t = tl.load(probs_ptr + base + offs, mask=mask, other=0.0).to(DT)
                    gr = gr - (1.0 - eps) * t
                else:
                    gr = gr - tl.where(offs == y, 1.0 - eps, 0.0)
                tl.store(gx_ptr + base + offs, tl.where(live, gr, 0.0), mask=mask)
            if NEED_TARGET_GRAD:
                # 0 at a masked class whose term is 0 ((1 - eps) t_k = 0), as the reference's 0 * inf := 0
                t = tl.load(probs_ptr + base + offs, mask=mask, other=0.0).to(DT)
                zero_term = (v == ninf) & ((1.0 - eps) * t == 0.0)
                tl.store(gt_ptr + base + offs, tl.where(zero_term, 0.0, (1.0 - eps) * (lse - v)), mask=mask)


@triton.jit
def _sigmoid_parts(u):
    # sigma(u), sigma(-u) and log1p(e^-|u|) from one exponential e = e^-|u|.
    e = tl.exp(-tl.abs(u))
    r = 1.0 / (1.0 + e)  # sigma(|u|)
    re = e * r  # sigma(-|u|)
    pos = u >= 0.0
    onep = 1.0 + e
    # log1p(e) = log(1 + e) * e / ((1 + e) - 1): exact to a few ulp without libdevice.
    tiny = onep == 1.0
    sp = tl.where(tiny, e, tl.log(onep) * e / tl.where(tiny, 1.0, onep - 1.0))
    return tl.where(pos, r, re), tl.where(pos, re, r), sp


@triton.jit
def matching_sigmoid_kernel(
    pred_ptr, target_ptr, loss_ptr, gp_ptr, gt_ptr, n,
    alpha_hi, alpha_lo, beta_hi, beta_lo, c_hi, c_lo, coa_hi, coa_lo, ca_hi, ca_lo,
    DT: tl.constexpr, NEED_PRED_GRAD: tl.constexpr, NEED_TARGET_GRAD: tl.constexpr, BLOCK: tl.constexpr,
):
    # loss = c/alpha KL(Bern sigma(x) || Bern sigma(x_hat)), x = alpha (z - beta) (seed 000 eq. 2-4)
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    alpha = _param(alpha_hi, alpha_lo, DT)
    beta = _param(beta_hi, beta_lo, DT)
    c = _param(c_hi, c_lo, DT)
    c_over_a = _param(coa_hi, coa_lo, DT)
    c_alpha = _param(ca_hi, ca_lo, DT)
    zh = tl.load(pred_ptr + offs, mask=mask, other=0.0).to(DT)
    zs = tl.load(target_ptr + offs, mask=mask, other=0.0).to(DT)
    xh = (zh - beta) * alpha
    xs = (zs - beta) * alpha
    ph, qh, sph = _sigmoid_parts(xh)
    ps, qs, sps = _sigmoid_parts(xs)
    kl = (
        ps * (tl.minimum(xs, 0.0) - tl.minimum(xh, 0.0))
        + qs * (tl.minimum(-xs, 0.0) - tl.minimum(-xh, 0.0))
        + (sph - sps)
    )
    tl.store(loss_ptr + offs, kl * c_over_a, mask=mask)
    if NEED_PRED_GRAD:
        tl.store(gp_ptr + offs, (ph - ps) * c, mask=mask)
    if NEED_TARGET_GRAD:
        tl.store(gt_ptr + offs, -((zh - zs) * ps * qs * c_alpha), mask=mask)
