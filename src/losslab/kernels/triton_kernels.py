"""Triton (GPU) kernels for the fused losslab operators.

Each launcher takes and returns exactly what the C++ operator of the same name
(``losslab::composite_softmax_fwd``, ``losslab::cross_entropy_fwd``,
``losslab::matching_sigmoid_fwd``, csrc/losslab_kernels.cpp) does: the loss per row
(per element for the matching loss) in the input's dtype and the gradients of that
loss, computed in the same launch, as ``[rows, K]`` tensors (or empty ``[0]`` tensors
when not requested). Autograd multiplies the saved gradients by the incoming one.

Row kernels run one program per row and loop over the row in blocks of ``BLOCK_K``
columns (as Liger-Kernel's cross-entropy does):

* pass 1 reads ``ŝ`` and ``s`` once and keeps an online log-sum-exp of both rows'
  Q-logits (running max ``m`` and ``Σ e^(l - m)``, rescaled when the max grows), plus,
  rescaled the same way, the linear term ``Σ (ŝ_k - s_k) q(s_k) e^(l_k(s) - m)`` of
  eq. (29); the loss follows at the end of the pass;
* pass 2 reads the row again (on a GPU usually from L2) and writes the gradient
  ``q(ŝ)p(ŝ) - q(s)p(s)`` of eq. (30) and, if asked, the target's gradient.

Arithmetic is float32 for float16/bfloat16/float32 inputs and float64 for float64
inputs. Triton passes Python floats to a kernel as float32, so each scalar link
parameter travels as a float32 pair ``(hi, lo)`` with ``hi + lo`` equal to the double
to ~2^-48 relative; float64 kernels rebuild it, float32 kernels use ``hi``.

``triton`` is imported on the first launch, never when this module is imported. With
``TRITON_INTERPRET=1`` set before that first launch the kernels run on CPU tensors in
Triton's interpreter (how the tests check them on a machine without a GPU).
"""
from __future__ import annotations

import math

import torch

__all__ = [
    "SHAPES",
    "available",
    "composite_softmax_fwd_triton",
    "cross_entropy_fwd_triton",
    "matching_sigmoid_fwd_triton",
    "register_cuda_kernels",
]
__all__ += ["MATCHING_SHAPES", "matching_link_fwd_triton", "composite_sigmoid_fwd_triton"]

# Scaling shapes of composite_softmax_fwd, in the C++ enum's order (the kernel's constexpr).
SHAPES = {"identity": 0, "exp": 1, "anti_exp": 2, "sinh": 3, "cosh": 4}

_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

# Largest column block (a row of 32K takes 16 iterations per pass) and warps per
# program: chosen so a thread holds 8 elements of each of the ~10 live blocks, not
# tuned on a GPU yet.
_MAX_BLOCK_K = 2048
_NUM_WARPS = 8


def available() -> tuple[bool, str]:
    """``(True, "")`` if ``triton`` imports, else ``(False, why)``."""
    try:
        import triton  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def _split(x: float) -> tuple[float, float]:
    """A double as float32 ``hi`` plus float32 ``lo`` (see the module docstring)."""
    hi = float(torch.tensor(x, dtype=torch.float32))
    lo = float(torch.tensor(x - hi, dtype=torch.float32)) if math.isfinite(hi) else 0.0
    return hi, lo


def _block(K: int, block_k: int | None) -> int:
    if block_k is None:
        import triton

        return min(_MAX_BLOCK_K, triton.next_power_of_2(max(K, 1)))
    if block_k <= 0 or block_k & (block_k - 1):
        raise ValueError(f"block_k must be a positive power of two; got {block_k}")
    return block_k


def _check_float(name: str, t: torch.Tensor) -> None:
    if t.dtype not in _DTYPES:
        raise ValueError(f"{name}: float16, bfloat16, float32 or float64 only; got {t.dtype}")


def _kernels():
    """The kernel module, imported on first use (``TRITON_INTERPRET`` is read then, not at import)."""
    from . import _triton_src

    return _triton_src.composite_softmax_kernel, _triton_src.cross_entropy_kernel, _triton_src.matching_sigmoid_kernel


def _compute_dtype(dtype: torch.dtype):
    import triton.language as tl

    return tl.float64 if dtype == torch.float64 else tl.float32


def _grad_buffer(x: torch.Tensor, needed: bool) -> torch.Tensor:
    return torch.empty_like(x) if needed else x.new_empty((0,))


def composite_softmax_fwd_triton(
    pred: torch.Tensor,
    target: torch.Tensor,
    shape: str,
    alpha: float,
    beta: float,
    cap: float,
    scale: float,
    gamma: float,
    need_pred_grad: bool,
    need_target_grad: bool,
    *,
    block_k: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``losslab::composite_softmax_fwd`` in Triton: ``(loss [rows], grad_pred, grad_target)``.

    ``cap = inf`` means uncapped; ``scale`` is the ``c`` of ``link.scaled(c)``.
    ``block_k`` (a power of two) overrides the column block (tests use small ones so the
    online loop runs over several blocks).
    """
    if pred.dim() != 2 or target.shape != pred.shape:
        raise ValueError(
            f"composite_softmax_fwd: pred and target must be [rows, K] of one shape; got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if pred.dtype != target.dtype or pred.device != target.device:
        raise ValueError("composite_softmax_fwd: pred and target differ in dtype or device")
    _check_float("composite_softmax_fwd", pred)
    if pred.shape[1] == 0:
        raise ValueError("composite_softmax_fwd: K must be positive")
    if not (alpha > 0 and gamma > 0 and scale > 0 and cap > 0):
        raise ValueError("composite_softmax_fwd: alpha, gamma, scale and cap must be positive")
    if shape not in SHAPES:
        raise ValueError(f"composite_softmax_fwd: no kernel for the scaling shape '{shape}'")
    p, t = pred.contiguous(), target.contiguous()
    rows, K = p.shape
    loss = p.new_empty((rows,))
    gp = _grad_buffer(p, need_pred_grad)
    gt = _grad_buffer(p, need_target_grad)
    if rows == 0:
        return loss, gp, gt
    kernel = _kernels()[0]
    capped = math.isfinite(cap)
    scalars = (
        *_split(alpha), *_split(beta), *_split(cap if capped else 0.0), *_split(scale),
        *_split(scale / (alpha * gamma)), *_split(scale * alpha), *_split(gamma),
    )
    block = _block(K, block_k)
    kernel[(rows,)](
        p, t, loss, gp, gt, K, K, *scalars,
        SHAPE=SHAPES[shape], CAPPED=capped, DT=_compute_dtype(p.dtype),
        NEED_PRED_GRAD=bool(need_pred_grad), NEED_TARGET_GRAD=bool(need_target_grad), BLOCK_K=block,
        num_warps=_NUM_WARPS if block >= 1024 else 4,
    )
    return loss, gp, gt


def cross_entropy_fwd_triton(
    logits: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int,
    label_smoothing: float,
    need_grad: bool,
    need_target_grad: bool,
    *,
    block_k: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``losslab::cross_entropy_fwd`` in Triton: integer labels ``[rows]`` (int64) or
    probabilities ``[rows, K]``; ``(loss [rows], grad_logits, grad_target)``."""
    if logits.dim() != 2 or logits.shape[1] == 0:
        raise ValueError(f"cross_entropy_fwd: logits must be [rows, K], K > 0; got {tuple(logits.shape)}")
    _check_float("cross_entropy_fwd", logits)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError("cross_entropy_fwd: label_smoothing outside [0, 1]")
    labels = target.dtype == torch.int64
    rows, K = logits.shape
    if labels:
        if target.dim() != 1 or target.shape[0] != rows:
            raise ValueError(f"cross_entropy_fwd: labels must be [rows]; got {tuple(target.shape)}")
        if need_target_grad:
            raise ValueError("cross_entropy_fwd: integer labels have no gradient")
        bad = (target != ignore_index) & ((target < 0) | (target >= K))
        if bool(bad.any()):  # one device sync: the C++ op raises here too
            y = int(target[bad][0])
            raise ValueError(f"cross_entropy_fwd: label {y} outside [0, {K})")
    elif target.shape != logits.shape or target.dtype != logits.dtype:
        raise ValueError("cross_entropy_fwd: probability targets must match the logits' shape and dtype")
    x, t = logits.contiguous(), target.contiguous()
    loss = x.new_empty((rows,))
    gx = _grad_buffer(x, need_grad)
    gt = _grad_buffer(x, need_target_grad)
    if rows == 0:
        return loss, gx, gt
    kernel = _kernels()[1]
    block = _block(K, block_k)
    kernel[(rows,)](
        x, t if labels else x, x if labels else t, loss, gx, gt, K, K, int(ignore_index), *_split(float(label_smoothing)),
        HAS_PROBS=not labels, DT=_compute_dtype(x.dtype),
        NEED_GRAD=bool(need_grad), NEED_TARGET_GRAD=bool(need_target_grad), BLOCK_K=block,
        num_warps=_NUM_WARPS if block >= 1024 else 4,
    )
    return loss, gx, gt


def matching_sigmoid_fwd_triton(
    pred: torch.Tensor,
    target: torch.Tensor,
    alpha: float,
    beta: float,
    scale: float,
    need_pred_grad: bool,
    need_target_grad: bool,
    *,
    block: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``losslab::matching_sigmoid_fwd`` in Triton: elementwise ``(loss, grad_pred, grad_target)``, loss of ``pred``'s shape."""
    if target.shape != pred.shape:
        raise ValueError(f"matching_sigmoid_fwd: pred and target shapes differ: {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.dtype != target.dtype or pred.device != target.device:
        raise ValueError("matching_sigmoid_fwd: pred and target differ in dtype or device")
    _check_float("matching_sigmoid_fwd", pred)
    if not (alpha > 0 and scale > 0):
        raise ValueError("matching_sigmoid_fwd: alpha and scale must be positive")
    if block <= 0 or block & (block - 1):
        raise ValueError(f"block must be a positive power of two; got {block}")
    p, t = pred.contiguous(), target.contiguous()
    loss = torch.empty_like(p)
    gp = _grad_buffer(p, need_pred_grad)
    gt = _grad_buffer(p, need_target_grad)
    n = p.numel()
    if n == 0:
        return loss, gp, gt
    kernel = _kernels()[2]
    scalars = (*_split(alpha), *_split(beta), *_split(scale), *_split(scale / alpha), *_split(scale * alpha))
    kernel[(triton_cdiv(n, block),)](
        p, t, loss, gp, gt, n, *scalars,
        DT=_compute_dtype(p.dtype), NEED_PRED_GRAD=bool(need_pred_grad), NEED_TARGET_GRAD=bool(need_target_grad),
        BLOCK=block,
    )
    return loss, gp, gt


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


_REGISTERED: list[bool] = []


def register_cuda_kernels() -> bool:
    """Register the launchers as the CUDA kernels of the ``losslab::*_fwd`` operators (once).

    The operators' schemas come from the C++ library (``TORCH_LIBRARY(losslab, ...)``),
    so they must be defined first; their autograd and fake rules are device-agnostic and
    serve CUDA inputs unchanged. Returns whether the kernels are registered: ``False``
    when ``triton`` does not import or the operators are not defined.
    """
    if _REGISTERED:
        return True
    if not available()[0]:
        return False
    ops = torch.ops.losslab
    names = ("composite_softmax_fwd", "cross_entropy_fwd", "matching_sigmoid_fwd") + tuple(_MORE_CUDA_KERNELS)
    if not all(hasattr(ops, n) for n in names):
        return False
    launchers = (composite_softmax_fwd_triton, cross_entropy_fwd_triton, matching_sigmoid_fwd_triton)
    launchers += tuple(_MORE_CUDA_KERNELS.values())
    for name, launcher in zip(names, launchers):
        # The operator's positional schema; the launchers' keyword-only block sizes keep their defaults.
        torch.library.register_kernel(f"losslab::{name}", "cuda", launcher)
    register_single_logit_cuda_kernels()
    _REGISTERED.append(True)
    return True


# ---------------------------------------------------------------------------------
# losslab::matching_link_fwd and losslab::composite_sigmoid_fwd

# Link shapes of the Triton matching kernel, in csrc/matching_links.cpp's Shape numbering.
# Not here: arctan and arcsin (Triton's interpreter, where these kernels are tested, has no
# libdevice atan/asin) and the table-driven staircase and piecewise_linear links.
MATCHING_SHAPES = {
    "identity": 0, "exp": 1, "anti_exp": 2, "sinh": 3, "cosh": 4, "sigmoid": 5, "tanh": 6, "arcsinh": 7,
    "smelu": 8, "huber": 9, "step": 10, "sign": 11, "logit": 12, "power": 13, "sin": 14,
    "arctanh": 17, "tan": 18, "sign_log1p": 19, "neg_log1m": 20, "log": 21,
}
_N_PARAMS = {"smelu": 1, "huber": 1, "power": 1}


def _matching_launch(op, composite, pred, target, shape, alpha, beta, cap, scale, params, gamma,
                     need_pred_grad, need_target_grad, sum_only, block):
    if target.shape != pred.shape:
        raise ValueError(f"{op}: pred and target shapes differ: {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.dtype != target.dtype or pred.device != target.device:
        raise ValueError(f"{op}: pred and target differ in dtype or device")
    _check_float(op, pred)
    if not (alpha > 0 and scale > 0 and cap > 0 and gamma > 0):
        raise ValueError(f"{op}: alpha, scale, cap and gamma must be positive")
    if shape not in MATCHING_SHAPES:
        raise ValueError(f"{op}: no Triton kernel for the link shape '{shape}'")
    params = [float(v) for v in params]
    if len(params) != _N_PARAMS.get(shape, 0):
        raise ValueError(f"{op}: the link shape '{shape}' takes {_N_PARAMS.get(shape, 0)} params; got {len(params)}")
    if block <= 0 or block & (block - 1):
        raise ValueError(f"block must be a positive power of two; got {block}")
    p, t = pred.contiguous(), target.contiguous()
    n = p.numel()
    # sum_only: the per-element losses go to a scratch buffer summed afterwards (in float64,
    # as the C++ kernel accumulates); half inputs keep float32 losses there.
    buf_dtype = torch.float32 if p.dtype in (torch.float16, torch.bfloat16) else p.dtype
    loss = torch.empty(p.shape, dtype=buf_dtype if sum_only else p.dtype, device=p.device)
    gp = _grad_buffer(p, need_pred_grad)
    gt = _grad_buffer(p, need_target_grad)
    if n > 0:
        capped = math.isfinite(cap)
        scalars = (
            *_split(alpha), *_split(beta), *_split(cap if capped else 0.0), *_split(scale), *_split(scale / alpha),
            *_split(scale * alpha), *_split(gamma), *_split(1.0 / gamma), *_split(params[0] if params else 0.0),
        )
        _matching_kernel()[(triton_cdiv(n, block),)](
            p, t, loss, gp, gt, n, *scalars,
            SHAPE=MATCHING_SHAPES[shape], CAPPED=capped, COMPOSITE=composite, DT=_compute_dtype(p.dtype),
            NEED_PRED_GRAD=bool(need_pred_grad), NEED_TARGET_GRAD=bool(need_target_grad), BLOCK=block,
        )
    if sum_only:
        loss = torch.sum(loss, dtype=torch.float64).to(p.dtype)
    return loss, gp, gt


def _matching_kernel():
    from . import _triton_src

    return _triton_src.matching_link_kernel


def matching_link_fwd_triton(
    pred: torch.Tensor, target: torch.Tensor, shape: str, alpha: float, beta: float, cap: float, scale: float,
    params, need_pred_grad: bool, need_target_grad: bool, sum_only: bool = False, *, block: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``losslab::matching_link_fwd`` in Triton: elementwise ``(loss, grad_pred, grad_target)`` of eq. (2)
    (the loss summed to a 0-dim tensor with ``sum_only``)."""
    return _matching_launch("matching_link_fwd", False, pred, target, shape, alpha, beta, cap, scale, params, 1.0,
                            need_pred_grad, need_target_grad, sum_only, block)


def composite_sigmoid_fwd_triton(
    pred: torch.Tensor, target: torch.Tensor, shape: str, alpha: float, beta: float, cap: float, scale: float,
    params, gamma: float, need_pred_grad: bool, need_target_grad: bool, sum_only: bool = False, *, block: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``losslab::composite_sigmoid_fwd`` in Triton: elementwise ``(loss, grad_pred, grad_target)`` of eq. (24)."""
    return _matching_launch("composite_sigmoid_fwd", True, pred, target, shape, alpha, beta, cap, scale, params,
                            gamma, need_pred_grad, need_target_grad, sum_only, block)


# Further operators register_cuda_kernels() gives their Triton launcher: name -> launcher.
_MORE_CUDA_KERNELS = {
    "matching_link_fwd": matching_link_fwd_triton,
    "composite_sigmoid_fwd": composite_sigmoid_fwd_triton,
}
# Single-logit objectives (seed 001) and class-weighted cross-entropy
# (losslab::self_normalization_fwd, ::batch_cross_entropy_fwd, ::cross_entropy_weighted_fwd,
# csrc/single_logit.cpp; kernels in _triton_single_logit.py)

__all__ += [
    "batch_cross_entropy_fwd_triton",
    "cross_entropy_weighted_fwd_triton",
    "register_single_logit_cuda_kernels",
    "self_normalization_fwd_triton",
]


def _single_logit_kernels():
    from . import _triton_single_logit

    return _triton_single_logit


def _check_rows_labels(op: str, logits: torch.Tensor, labels: torch.Tensor, ignore_index: int | None = None) -> None:
    if logits.dim() != 2 or logits.shape[1] == 0:
        raise ValueError(f"{op}: logits must be [rows, K], K > 0; got {tuple(logits.shape)}")
    _check_float(op, logits)
    if labels.dtype != torch.int64 or labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"{op}: labels must be int64 [rows]; got {labels.dtype} {tuple(labels.shape)}")
    K = logits.shape[1]
    bad = (labels < 0) | (labels >= K)
    if ignore_index is not None:
        bad &= labels != ignore_index
    if bool(bad.any()):  # one device sync: the C++ op raises here too
        raise ValueError(f"{op}: label {int(labels[bad][0])} outside [0, {K})")


def _warps(block: int) -> int:
    return _NUM_WARPS if block >= 1024 else 4


def self_normalization_fwd_triton(
    logits: torch.Tensor, labels: torch.Tensor, alpha: float, need_grad: bool, *, block_k: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``losslab::self_normalization_fwd`` in Triton: ``(loss [rows], grad_logits)``."""
    _check_rows_labels("self_normalization_fwd", logits, labels)
    if not alpha > 0:
        raise ValueError(f"self_normalization_fwd: alpha must be positive; got {alpha}")
    x, y = logits.contiguous(), labels.contiguous()
    rows, K = x.shape
    loss = x.new_empty((rows,))
    gx = _grad_buffer(x, need_grad)
    if rows == 0:
        return loss, gx
    block = _block(K, block_k)
    _single_logit_kernels().self_normalization_kernel[(rows,)](
        x, y, loss, gx, K, K, *_split(float(alpha)),
        DT=_compute_dtype(x.dtype), NEED_GRAD=bool(need_grad), BLOCK_K=block, num_warps=_warps(block),
    )
    return loss, gx


def batch_cross_entropy_fwd_triton(
    logits: torch.Tensor, labels: torch.Tensor, need_grad: bool, *, block_k: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``losslab::batch_cross_entropy_fwd`` in Triton: ``(ell [B], Q_B [B, K])``.

    Two-level reduction: one program per row writes the row's log-partition, torch's
    ``logsumexp`` combines the ``B`` of them on the device (no host sync), and a second
    launch writes the per-row terms and ``Q_B``.
    """
    _check_rows_labels("batch_cross_entropy_fwd", logits, labels)
    x, y = logits.contiguous(), labels.contiguous()
    rows, K = x.shape
    loss = x.new_empty((rows,))
    q = _grad_buffer(x, need_grad)
    if rows == 0:
        return loss, q
    src = _single_logit_kernels()
    block = _block(K, block_k)
    dt = _compute_dtype(x.dtype)
    row_lse = torch.empty(rows, dtype=torch.float64 if x.dtype == torch.float64 else torch.float32, device=x.device)
    src.row_lse_kernel[(rows,)](x, row_lse, K, K, DT=dt, BLOCK_K=block, num_warps=_warps(block))
    total = torch.logsumexp(row_lse, 0).reshape(1)
    src.batch_cross_entropy_kernel[(rows,)](
        x, y, total, loss, q, K, K, *_split(math.log(rows)),
        DT=dt, NEED_GRAD=bool(need_grad), BLOCK_K=block, num_warps=_warps(block),
    )
    return loss, q


def cross_entropy_weighted_fwd_triton(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    ignore_index: int,
    label_smoothing: float,
    need_grad: bool,
    need_target_grad: bool,
    *,
    block_k: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``losslab::cross_entropy_weighted_fwd`` in Triton: class weights ``[K]``, integer labels
    ``[rows]`` or probabilities ``[rows, K]``; ``(loss [rows], grad_logits, grad_target)``."""
    if logits.dim() != 2 or logits.shape[1] == 0:
        raise ValueError(f"cross_entropy_weighted_fwd: logits must be [rows, K], K > 0; got {tuple(logits.shape)}")
    _check_float("cross_entropy_weighted_fwd", logits)
    rows, K = logits.shape
    if weight.shape != (K,) or weight.dtype != logits.dtype:
        raise ValueError(f"cross_entropy_weighted_fwd: weight must be [K] of the logits' dtype; got {weight.dtype} {tuple(weight.shape)}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError("cross_entropy_weighted_fwd: label_smoothing outside [0, 1]")
    labels = target.dtype == torch.int64
    if labels:
        _check_rows_labels("cross_entropy_weighted_fwd", logits, target, ignore_index)
        if need_target_grad:
            raise ValueError("cross_entropy_weighted_fwd: integer labels have no gradient")
    elif target.shape != logits.shape or target.dtype != logits.dtype:
        raise ValueError("cross_entropy_weighted_fwd: probability targets must match the logits' shape and dtype")
    x, t, w = logits.contiguous(), target.contiguous(), weight.contiguous()
    loss = x.new_empty((rows,))
    gx = _grad_buffer(x, need_grad)
    gt = _grad_buffer(x, need_target_grad)
    if rows == 0:
        return loss, gx, gt
    block = _block(K, block_k)
    _single_logit_kernels().cross_entropy_weighted_kernel[(rows,)](
        x, t if labels else x, x if labels else t, w, loss, gx, gt, K, K, int(ignore_index),
        *_split(float(label_smoothing)),
        HAS_PROBS=not labels, DT=_compute_dtype(x.dtype),
        NEED_GRAD=bool(need_grad), NEED_TARGET_GRAD=bool(need_target_grad), BLOCK_K=block, num_warps=_warps(block),
    )
    return loss, gx, gt


_SINGLE_LOGIT_REGISTERED: list[bool] = []


def register_single_logit_cuda_kernels() -> bool:
    """Register the launchers above as the CUDA kernels of their operators (once); ``False``
    when ``triton`` does not import or the operators are not defined."""
    if _SINGLE_LOGIT_REGISTERED:
        return True
    if not available()[0]:
        return False
    launchers = {
        "self_normalization_fwd": self_normalization_fwd_triton,
        "batch_cross_entropy_fwd": batch_cross_entropy_fwd_triton,
        "cross_entropy_weighted_fwd": cross_entropy_weighted_fwd_triton,
    }
    if not all(hasattr(torch.ops.losslab, n) for n in launchers):
        return False
    for name, launcher in launchers.items():
        torch.library.register_kernel(f"losslab::{name}", "cuda", launcher)
    _SINGLE_LOGIT_REGISTERED.append(True)
    return True
