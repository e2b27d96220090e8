"""Triton kernels of the single-logit objectives and the class-weighted cross-entropy
(launchers in losslab.kernels.triton_kernels; imports ``triton``: load it lazily).

The formulas are those of csrc/single_logit.cpp. Rows run one program each and loop over
the row in blocks of ``BLOCK_K`` columns with an online log-sum-exp, the gradient
written in a second pass over the row (as the kernels of _triton_src.py do).
"""
import triton
import triton.language as tl

from ._triton_src import _finite_or_zero, _param, _rescale


@triton.jit
def self_normalization_kernel(
    x_ptr, labels_ptr, loss_ptr, gx_ptr,
    K, stride_row, alpha_hi, alpha_lo,
    DT: tl.constexpr, NEED_GRAD: tl.constexpr, BLOCK_K: tl.constexpr,
):
    # loss = lse - x_y + alpha lse^2,  d/dx_k = p_k (1 + 2 alpha lse) - [k = y]   (seed 001, Sect. 4.1)
    row = tl.program_id(0).to(tl.int64)
    base = row * stride_row
    alpha = _param(alpha_hi, alpha_lo, DT)
    cols = tl.arange(0, BLOCK_K)
    ninf = -float("inf")
    y = tl.load(labels_ptr + row)
    m = tl.full((), ninf, DT)
    S = tl.zeros((), DT)
    for start in range(0, K, BLOCK_K):
        offs = start + cols
        v = tl.load(x_ptr + base + offs, mask=offs < K, other=ninf).to(DT)
        new = tl.maximum(m, tl.max(v, axis=0))
        S = S * _rescale(m, new) + tl.sum(tl.exp(v - _finite_or_zero(new)), axis=0)
        m = new
    lse = _finite_or_zero(m) + tl.log(S)
    x_y = tl.load(x_ptr + base + y).to(DT)
    tl.store(loss_ptr + row, lse - x_y + alpha * lse * lse)
    if NEED_GRAD:
        a = (1.0 + 2.0 * alpha * lse) / S
        for start in range(0, K, BLOCK_K):
            offs = start + cols
            mask = offs < K
            v = tl.load(x_ptr + base + offs, mask=mask, other=ninf).to(DT)
            gr = tl.exp(v - _finite_or_zero(m)) * a - tl.where(offs == y, 1.0, 0.0)
            tl.store(gx_ptr + base + offs, gr, mask=mask)


@triton.jit
def row_lse_kernel(x_ptr, lse_ptr, K, stride_row, DT: tl.constexpr, BLOCK_K: tl.constexpr):
    # The first level of the batch cross-entropy's two-level reduction: each row's log-partition.
    row = tl.program_id(0).to(tl.int64)
    base = row * stride_row
    cols = tl.arange(0, BLOCK_K)
    ninf = -float("inf")
    m = tl.full((), ninf, DT)
    S = tl.zeros((), DT)
    for start in range(0, K, BLOCK_K):
        offs = start + cols
        v = tl.load(x_ptr + base + offs, mask=offs < K, other=ninf).to(DT)
        new = tl.maximum(m, tl.max(v, axis=0))
        S = S * _rescale(m, new) + tl.sum(tl.exp(v - _finite_or_zero(new)), axis=0)
        m = new
    tl.store(lse_ptr + row, _finite_or_zero(m) + tl.log(S))


@triton.jit
def batch_cross_entropy_kernel(
    x_ptr, labels_ptr, total_lse_ptr, loss_ptr, q_ptr,
    K, stride_row, log_b_hi, log_b_lo,
    DT: tl.constexpr, NEED_GRAD: tl.constexpr, BLOCK_K: tl.constexpr,
):
    # ell_i = L - x_{i, y_i} - log B and Q_B = e^(x - L), L the log-sum-exp of the whole batch (Definition 2)
    row = tl.program_id(0).to(tl.int64)
    base = row * stride_row
    L = tl.load(total_lse_ptr).to(DT)
    y = tl.load(labels_ptr + row)
    x_y = tl.load(x_ptr + base + y).to(DT)
    tl.store(loss_ptr + row, L - x_y - _param(log_b_hi, log_b_lo, DT))
    if NEED_GRAD:
        cols = tl.arange(0, BLOCK_K)
        for start in range(0, K, BLOCK_K):
            offs = start + cols
            mask = offs < K
            v = tl.load(x_ptr + base + offs, mask=mask, other=-float("inf")).to(DT)
            tl.store(q_ptr + base + offs, tl.exp(v - L), mask=mask)


@triton.jit
def cross_entropy_weighted_kernel(
    x_ptr, labels_ptr, probs_ptr, w_ptr, loss_ptr, gx_ptr, gt_ptr,
    K, stride_row, ignore_index, eps_hi, eps_lo,
    HAS_PROBS: tl.constexpr, DT: tl.constexpr,
    NEED_GRAD: tl.constexpr, NEED_TARGET_GRAD: tl.constexpr, BLOCK_K: tl.constexpr,
):
    # c_k = (1 - eps) y_k + eps v_k / K'  (v_k = [x_k != -inf], K' = sum_k v_k), class weights w_k:
    # loss = sum_k c_k w_k (lse - x_k),  d/dx_k = p_k sum_j c_j w_j - c_k w_k,  d/dt_k = (1 - eps) w_k (lse - x_k)
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

    # Pass 1: online log-sum-exp; K'; sum_valid w_k and sum_valid w_k x_k; sum_k t_k w_k and
    # sum_k t_k w_k x_k over t_k w_k != 0.
    m = tl.full((), ninf, DT)
    S = tl.zeros((), DT)
    cnt = tl.zeros((), DT)
    sw = tl.zeros((), DT)
    swx = tl.zeros((), DT)
    stw = tl.zeros((), DT)
    stwx = tl.zeros((), DT)
    for start in range(0, K, BLOCK_K):
        offs = start + cols
        mask = offs < K_read
        v = tl.load(x_ptr + base + offs, mask=mask, other=ninf).to(DT)
        wk = tl.load(w_ptr + offs, mask=mask, other=0.0).to(DT)
        valid = v != ninf
        new = tl.maximum(m, tl.max(v, axis=0))
        S = S * _rescale(m, new) + tl.sum(tl.exp(v - _finite_or_zero(new)), axis=0)
        m = new
        cnt += tl.sum(valid.to(DT), axis=0)
        sw += tl.sum(tl.where(valid, wk, 0.0), axis=0)
        swx += tl.sum(tl.where(valid, wk * v, 0.0), axis=0)
        if HAS_PROBS:
            tw = tl.load(probs_ptr + base + offs, mask=mask, other=0.0).to(DT) * wk
            stw += tl.sum(tw, axis=0)
            stwx += tl.sum(tl.where(tw != 0.0, tw * v, 0.0), axis=0)  # 0 * (-inf) = 0
    lse = _finite_or_zero(m) + tl.log(S)
    if HAS_PROBS:
        target_part = stw * lse - stwx
    else:
        yy = tl.where(live, y, 0)
        stw = tl.load(w_ptr + yy).to(DT)
        x_y = tl.load(x_ptr + base + yy).to(DT)
        target_part = tl.where(stw == 0.0, 0.0, stw * (lse - x_y))
    share = tl.where(cnt > 0.0, eps / tl.maximum(cnt, 1.0), 0.0)
    smooth_part = tl.where(share > 0.0, share * (sw * lse - swx), 0.0)
    loss = (1.0 - eps) * target_part + smooth_part
    tl.store(loss_ptr + row, tl.where(live, loss, 0.0))

    if NEED_GRAD or NEED_TARGET_GRAD:
        a = ((1.0 - eps) * stw + share * sw) / S
        for start in range(0, K, BLOCK_K):
            offs = start + cols
            mask = offs < K
            v = tl.load(x_ptr + base + offs, mask=offs < K_read, other=ninf).to(DT)
            wk = tl.load(w_ptr + offs, mask=mask, other=0.0).to(DT)
            if NEED_GRAD:
                gr = tl.exp(v - _finite_or_zero(m)) * a - tl.where(v != ninf, share * wk, 0.0)
                if HAS_PROBS:
                    t = tl.load(probs_ptr + base + offs, mask=mask, other=0.0).to(DT)
                    gr = gr - (1.0 - eps) * t * wk
                else:
                    gr = gr - tl.where(offs == y, (1.0 - eps) * stw, 0.0)
                tl.store(gx_ptr + base + offs, tl.where(live, gr, 0.0), mask=mask)
            if NEED_TARGET_GRAD:
                t = tl.load(probs_ptr + base + offs, mask=mask, other=0.0).to(DT)
                # 0 where the term is 0 at a masked class (w_k = 0 or (1 - eps) t_k = 0): 0 * inf := 0
                zero_term = (v == ninf) & ((wk == 0.0) | ((1.0 - eps) * t == 0.0))
                tl.store(gt_ptr + base + offs, tl.where(zero_term, 0.0, (1.0 - eps) * wk * (lse - v)), mask=mask)
