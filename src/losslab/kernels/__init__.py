"""Fused kernels: PyTorch custom operators for the losses that pay for them (DESIGN.md principle 6).

The pure-PyTorch implementation of each loss stays the reference and the fallback.
A loss with a kernel takes ``impl="auto" | "reference" | "fused"``:

* ``"auto"`` (default): the fused operator where one exists for the input's device,
  dtype and link, else the reference;
* ``"reference"``: always the pure-PyTorch code;
* ``"fused"``: the operator, or a ``ValueError`` naming ``impl`` and what is missing.

CPU kernels are C++ (``csrc/losslab_kernels.cpp``: ATen's ``Vectorized`` math,
``at::parallel_for`` over rows), compiled on first use with
``torch.utils.cpp_extension.load`` (ninja) for the CPU capability PyTorch itself
dispatches to (AVX512, AVX2 or the portable default) and cached under
``$TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions/py3X_cpu/``). A
build that fails (no compiler, no ninja) warns once and every ``"auto"`` call uses
the reference; ``LOSSLAB_KERNELS=0`` turns the kernels off without trying.
:func:`available` says what was built, or why not.

The operators are registered with ``torch.library`` (schema and CPU kernel in C++,
autograd and fake tensor rules here), so ``torch.compile(fullgraph=True)`` traces
through them. Each returns the loss per row together with the gradient, computed in
the same pass (as Liger-Kernel does); backward is one multiply by that saved gradient.

Fused so far (docs/kernels.md has the table): :func:`losslab.composite_softmax_loss` for the
scalings ``identity``, ``exp``, ``anti_exp``, ``sinh`` and ``cosh`` (any ``alpha``, ``beta``,
``cap``, ``gamma``, ``link.scaled(c)``); :func:`losslab.matching_loss` for every link with a
closed-form primitive (24 shapes, ``csrc/matching_links.cpp``); :func:`losslab.composite_sigmoid_loss`
for those of them defined on all reals; :func:`losslab.cross_entropy` (labels with ``ignore_index``,
probability targets, label smoothing, class weights: ``csrc/single_logit.cpp``);
:func:`losslab.self_normalization`, :func:`losslab.batch_cross_entropy`, the linear + loss
functions of :mod:`losslab.linear` (per row chunk) and the class-parallel operators of
:mod:`losslab.distributed` (``csrc/class_parallel.cpp``, CPU only). CPU: float32 and float64.

CUDA: where a CUDA device and ``triton`` exist, :func:`available` registers the Triton kernels
(:mod:`losslab.kernels.triton_kernels`) as the same operators' CUDA kernels, and ``impl="auto"``
/ ``"fused"`` send CUDA tensors (float16, bfloat16, float32, float64) to them; the operators'
schemas come from the C++ library, so the CPU build must have succeeded. Not yet run on a GPU:
tested under Triton's interpreter on the CPU only.
"""
from __future__ import annotations

import hashlib
import math
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["available", "Availability", "IMPLS"]

IMPLS = ("auto", "reference", "fused")

# Every C++ source under csrc/ goes into one library: losslab_kernels.cpp declares the
# operator namespace (TORCH_LIBRARY), the other files add to it (TORCH_LIBRARY_FRAGMENT).
_CSRC_DIR = Path(__file__).resolve().parent / "csrc"


def _sources() -> list[Path]:
    return sorted(_CSRC_DIR.glob("*.cpp"))
_FUSED_LOSSES = ("composite_softmax_loss", "matching_loss", "cross_entropy")
_DTYPES = (torch.float32, torch.float64)
_GPU_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)  # Triton accumulates in float32/float64

# Compiler flags per CPU capability: the same instruction sets PyTorch's own kernels
# are built with for that capability, so ATen's Vectorized<T> (and its Sleef exp,
# exported by libtorch_cpu) is the 512-/256-bit version.
_CAPABILITY_FLAGS = {
    "AVX512": ["-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"],
    "AVX2": ["-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2", "-mavx2", "-mfma", "-mf16c"],
    "DEFAULT": ["-DCPU_CAPABILITY=DEFAULT"],
}


@dataclass(frozen=True)
class Availability:
    """What :func:`available` found.

    Attributes:
        cpu: whether the CPU kernels are built and loaded.
        reason: why not (empty when ``cpu`` is true).
        capability: the CPU instruction set they were compiled for.
        build_dir: where the compiled library is cached.
        losses: the losses with a fused CPU path.
        gpu: whether the Triton kernels are registered as the operators' CUDA kernels
            (a CUDA device and ``triton`` are needed).
    """

    cpu: bool
    reason: str
    capability: str
    build_dir: str | None
    losses: tuple[str, ...]
    gpu: bool = False

    def __bool__(self) -> bool:
        return self.cpu


class _State:
    lock = threading.Lock()
    status: Availability | None = None


def _capability() -> str:
    cap = torch.backends.cpu.get_cpu_capability()
    for name in ("AVX512", "AVX2"):
        if cap.startswith(name):
            return name
    return "DEFAULT"


def _build() -> Availability:
    capability = _capability()
    if os.environ.get("LOSSLAB_KERNELS", "1").strip().lower() in ("0", "false", "no", "off"):
        return Availability(False, "disabled by LOSSLAB_KERNELS=0", capability, None, ())
    cflags = ["-O3", "-fno-math-errno", "-ffp-contract=off", *_CAPABILITY_FLAGS[capability]]
    # at::parallel_for is an inline `#pragma omp parallel` in torch's OpenMP builds: without
    # -fopenmp the pragma is dropped and every kernel runs on one thread (cpp_extension adds
    # no such flag). Linking with -fopenmp names libgomp.so.1, which resolves to the copy torch
    # has already loaded, so torch.set_num_threads governs the kernels too.
    ldflags = []
    if sys.platform.startswith("linux") and torch.backends.openmp.is_available():
        cflags.append("-fopenmp")
        ldflags.append("-fopenmp")
    # One build folder per source and flags: two checkouts (or versions) of losslab never
    # rebuild over each other's library, and an old folder never serves a new source.
    sources = _sources()
    hashed = sources + sorted(_CSRC_DIR.glob("*.h"))  # the headers the sources include
    digest = hashlib.sha1(b"".join(p.name.encode() + p.read_bytes() for p in hashed)
                          + " ".join(cflags).encode()).hexdigest()[:10]
    torch_version = torch.__version__.split("+")[0].replace(".", "_")
    name = f"losslab_kernels_{capability.lower()}_torch{torch_version}_{digest}"
    try:
        from torch.utils import cpp_extension

        try:  # the `ninja` wheel (a runtime dependency) puts its binary outside PATH
            import ninja

            bin_dir = getattr(ninja, "BIN_DIR", None)
            if bin_dir and bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
                os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
        except ImportError:
            pass
        build_dir = cpp_extension._get_build_directory(name, verbose=False)
        _clear_stale_lock(build_dir)
        cpp_extension.load(
            name=name,
            sources=[str(p) for p in sources],
            extra_cflags=cflags,
            extra_ldflags=ldflags,
            is_python_module=False,
            verbose=False,
        )
        _register_python_rules()  # torch.library.register_fake/register_autograd: torch >= 2.4
    except Exception as exc:  # no compiler, no ninja, a failed build: warn once, use the reference
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        # A compiler's output is long: its first error line says most.
        detail = next((ln for ln in lines if "error:" in ln), lines[-1] if lines else "")
        reason = f"{type(exc).__name__}: {detail}"
        warnings.warn(
            f"losslab: the fused CPU kernels could not be built ({reason}); using the reference "
            "implementations (set LOSSLAB_KERNELS=0 to skip the attempt)",
            RuntimeWarning,
            stacklevel=3,
        )
        return Availability(False, reason, capability, None, ())
    return Availability(True, "", capability, build_dir, _FUSED_LOSSES, gpu=_register_gpu_kernels())


def _register_gpu_kernels() -> bool:
    """The Triton launchers as the operators' CUDA kernels, where a CUDA device and triton exist."""
    if not torch.cuda.is_available():
        return False
    try:
        from . import triton_kernels

        return triton_kernels.register_cuda_kernels()
    except Exception as exc:  # a broken triton install: CUDA inputs take the reference
        warnings.warn(f"losslab: the Triton kernels could not be registered ({exc}); CUDA inputs use the reference",
                      RuntimeWarning, stacklevel=3)
        return False


# A build takes about a minute on 2 cores; a lock older than this was left by a build
# that was killed, and torch's file baton would wait for it forever.
_STALE_LOCK_S = 600.0


def _clear_stale_lock(build_dir: str) -> bool:
    """Remove ``build_dir/lock`` if no build has touched it for ``_STALE_LOCK_S`` seconds."""
    lock = Path(build_dir) / "lock"
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return False
    if age < _STALE_LOCK_S:
        return False
    warnings.warn(f"losslab: removing a stale build lock {lock} ({age:.0f} s old; its build was interrupted)",
                  RuntimeWarning, stacklevel=3)
    lock.unlink(missing_ok=True)
    return True


@torch.compiler.assume_constant_result
def _loaded() -> bool:
    # Under torch.compile this runs once at trace time (not traced), so a first call
    # inside a compiled region still builds the library instead of breaking the graph.
    return available().cpu


def available() -> Availability:
    """Build (on first call, cached on disk) and load the CPU kernels; say what is there.

    Returns:
        an :class:`Availability`, true when the CPU kernels are loaded.

    Example:
        >>> import losslab.kernels
        >>> status = losslab.kernels.available()
        >>> status.cpu or bool(status.reason)
        True
    """
    if _State.status is None:
        with _State.lock:
            if _State.status is None:
                _State.status = _build()
    return _State.status


# ---------------------------------------------------------------------------------
# Autograd and fake-tensor rules of the C++ operators


def _register_python_rules() -> None:
    # Once per process, even if this module is imported twice (pytest --doctest-modules on
    # a src layout does): the marker lives on torch's op namespace, not in this module.
    namespace = torch.ops.losslab
    if getattr(namespace, "_losslab_rules_registered", False):
        return
    namespace._losslab_rules_registered = True

    @torch.library.register_fake("losslab::composite_softmax_fwd")
    def _(pred, target, shape, alpha, beta, cap, scale, gamma, need_pred_grad, need_target_grad):
        return _fake_outputs(pred, pred.new_empty((pred.shape[0],)), need_pred_grad, need_target_grad)

    @torch.library.register_fake("losslab::matching_sigmoid_fwd")
    def _(pred, target, alpha, beta, scale, need_pred_grad, need_target_grad, sum_only=False):
        loss = pred.new_empty(()) if sum_only else torch.empty_like(pred, memory_format=torch.contiguous_format)
        return _fake_outputs(pred, loss, need_pred_grad, need_target_grad)

    @torch.library.register_fake("losslab::cross_entropy_fwd")
    def _(logits, target, ignore_index, label_smoothing, need_grad, need_target_grad):
        return _fake_outputs(logits, logits.new_empty((logits.shape[0],)), need_grad, need_target_grad)

    @torch.library.register_fake("losslab::composite_softmax_fwd_inplace_")
    def _(pred, target, shape, alpha, beta, cap, scale, gamma):
        return pred.new_empty((pred.shape[0],))

    @torch.library.register_fake("losslab::cross_entropy_fwd_inplace_")
    def _(logits, target, ignore_index, label_smoothing):
        return logits.new_empty((logits.shape[0],))

    _register_loss_autograd("composite_softmax_fwd", n_inputs=10, per_row=True)
    _register_loss_autograd("cross_entropy_fwd", n_inputs=6, per_row=True)
    _register_loss_autograd("matching_sigmoid_fwd", n_inputs=8, per_row=False)
    _register_matching_link_rules()
    _register_elementwise_rules()
    _register_class_parallel_rules()
    _register_single_logit_rules()


def _fake_outputs(pred, loss, need_pred_grad, need_target_grad):
    def grad(needed):
        return torch.empty_like(pred, memory_format=torch.contiguous_format) if needed else pred.new_empty((0,))

    return loss, grad(need_pred_grad), grad(need_target_grad)


def _register_loss_autograd(name: str, n_inputs: int, per_row: bool) -> None:
    """Autograd of an operator ``(pred, target, ...) -> (loss, grad_pred, grad_target)``.

    The operator computes the gradients of ``loss`` in its forward pass; backward
    multiplies them by the incoming gradient (one per row when ``per_row``, else one per
    element).
    """

    def setup_context(ctx, inputs, output):
        _, grad_pred, grad_target = output
        ctx.mark_non_differentiable(grad_pred, grad_target)
        # No zero-filled gradients for those two outputs (backward ignores them).
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(grad_pred, grad_target)

    def backward(ctx, grad_loss, _grad_pred, _grad_target):
        grad_pred, grad_target = ctx.saved_tensors
        if grad_loss is None:
            return (None,) * n_inputs
        g = grad_loss.unsqueeze(-1) if per_row else grad_loss
        reuse = _saved_buffers_released(grad_pred, grad_target)
        out = [None, None]
        for i, (saved, flag) in enumerate(((grad_pred, "need_pred_grad"), (grad_target, "need_target_grad"))):
            if ctx.needs_input_grad[i]:
                if saved.numel() == 0 and g.numel() != 0:
                    raise RuntimeError(f"{name} was called with {flag}=False; no gradient was saved")
                out[i] = saved.mul_(g) if reuse else g * saved
        return tuple(out) + (None,) * (n_inputs - 2)

    torch.library.register_autograd(f"losslab::{name}", backward, setup_context=setup_context)


def _saved_buffers_released(*saved: torch.Tensor) -> bool:
    """Whether autograd frees this backward's saved tensors once it returns.

    Then the saved gradient ``[rows, K]`` is scaled in place and becomes the input's
    gradient, so the peak stays at one ``[rows, K]`` tensor instead of two. With
    ``retain_graph=True`` / ``create_graph=True`` (or while tracing for torch.compile) the
    saved tensor must survive and a new one is made.
    """
    if torch.compiler.is_compiling() or torch._C._len_torch_dispatch_stack() > 0:
        return False  # fake/proxy/functional tracing (torch.compile, opcheck, make_fx)
    if any(type(t) is not torch.Tensor for t in saved):
        return False
    try:
        return not torch._C._autograd._get_current_graph_task_keep_graph()
    except Exception:  # no graph task (e.g. a functional-tensor trace): keep the saved tensor
        return False


# ---------------------------------------------------------------------------------
# Which links have a kernel

# (g, g', G) of the base shapes whose functions are torch's own (so identity of the
# function objects identifies the shape); shapes built from lambdas need a recipe.
_TORCH_SHAPES = {
    "exp": (torch.exp, torch.exp, torch.exp),
    "sinh": (torch.sinh, torch.cosh, torch.cosh),
    "cosh": (torch.cosh, torch.sinh, torch.sinh),
}
_KERNEL_SHAPES = ("identity", "exp", "anti_exp", "sinh", "cosh")


def scaling_spec(link) -> tuple[str, float, float, float, float] | None:
    """``(shape, alpha, beta, cap, scale)`` of a link the kernels implement, else ``None``.

    ``cap`` is ``inf`` for an uncapped link; ``scale`` is the ``c`` of ``link.scaled(c)``.
    A link describes itself by its constructor's recipe where it records one; otherwise
    by its base functions (``torch.exp``, ``torch.sinh``, ...) or, for ``identity``, by
    name and derivative.
    """
    cap = math.inf if link.cap is None else float(link.cap)
    recipe = getattr(link, "recipe", None)
    if recipe is not None:
        ctor, kwargs, scales = recipe
        if ctor in _KERNEL_SHAPES and not kwargs:
            return ctor, float(link.alpha), float(link.beta), cap, float(math.prod(scales))
        return None
    for shape, fns in _TORCH_SHAPES.items():
        if (link.g, link.g_prime, link.g_primitive) == fns:
            return shape, float(link.alpha), float(link.beta), cap, 1.0
    if link.name == "identity" and link.g_prime is torch.ones_like and link.cap is None and not link.params:
        return "identity", float(link.alpha), float(link.beta), cap, 1.0
    return None


def sigmoid_link_spec(link) -> tuple[float, float, float] | None:
    """``(alpha, beta, scale)`` of an uncapped ``links.sigmoid`` (possibly ``.scaled(c)``), else ``None``."""
    if link.cap is not None:
        return None
    recipe = getattr(link, "recipe", None)
    if recipe is not None:
        ctor, kwargs, scales = recipe
        if ctor == "sigmoid" and not kwargs:
            return float(link.alpha), float(link.beta), float(math.prod(scales))
        return None
    from .._numerics import softplus

    if link.g is torch.sigmoid and link.g_primitive is softplus:
        return float(link.alpha), float(link.beta), 1.0
    return None


# What each loss's kernel covers, for the errors of impl="fused".
_COVERS = {
    "composite_softmax_loss": (scaling_spec, "this scaling (identity, exp, anti_exp, sinh, cosh only)"),
    "matching_loss": (sigmoid_link_spec, "this link (the uncapped sigmoid link only)"),
    # for cross_entropy the "link" is class_weight: the kernel has none
    # for cross_entropy the "link" is the class weight: its gradient is the reference's only
    "cross_entropy": (lambda class_weight: None if _weight_needs_grad(class_weight) else (),
                      "class weights that require grad (the kernel gives no gradient of weight)"),
    "linear_composite_softmax_loss": (scaling_spec, "this scaling (identity, exp, anti_exp, sinh, cosh only)"),
    # class weights, smoothing and ignore_index: cross_entropy_weighted_fwd (the weight is a constant there)
    "linear_cross_entropy": (lambda _: (), ""),
}


def _unsupported(pred: torch.Tensor, spec, what: str) -> str:
    """Why the fused path cannot run ('' if it can)."""
    if pred.device.type == "cuda":
        if not available().gpu:
            return f"no fused kernel for device {pred.device} (the Triton kernels are not registered; dtype {pred.dtype})"
        if pred.dtype not in _GPU_DTYPES:
            return f"no fused kernel for dtype {pred.dtype} on device {pred.device}"
    elif pred.device.type != "cpu":
        return f"no fused kernel for device {pred.device} (CPU and CUDA only; dtype {pred.dtype})"
    elif pred.dtype not in _DTYPES:
        return f"no fused kernel for dtype {pred.dtype} on device {pred.device} (float32 and float64 only)"
    if spec is None:
        return f"no fused kernel for {what}"
    return ""


def use_fused(loss_name: str, impl, pred: torch.Tensor, link) -> tuple[bool, tuple | None]:
    """Resolve ``impl`` for one call: ``(use the kernel?, link spec)``; raises for bad ``impl``."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of 'auto', 'reference', 'fused'; got {impl!r}")
    if impl == "reference":
        return False, None
    spec_of, what = _COVERS[loss_name]
    from ..links import Link, _check_params_for

    if isinstance(link, Link):
        # The reference path checks a link's parameters against the input's dtype when it first
        # applies the link; the kernel never calls the link, so check here: same errors on both paths.
        _check_params_for(link, pred)
    spec = spec_of(link)
    if spec is not None and pred.device.type == "cuda" and not _GPU_COVERS.get(loss_name, _ANY)(spec):
        spec = None  # a shape the C++ kernel has and the Triton kernel has not
    why = _unsupported(pred, spec, what)
    if not why:
        if _loaded():
            return True, spec
        why = f"the CPU kernels are not available ({available().reason})"
    if impl == "fused":
        raise ValueError(
            f"impl='fused' cannot run {loss_name} for dtype {pred.dtype} on device {pred.device}: {why}"
        )
    return False, None


def composite_softmax_rows(pred: torch.Tensor, target: torch.Tensor, spec: tuple, gamma: float) -> torch.Tensor:
    """Eq. (29) per row of ``[rows, K]`` inputs, with the gradients of (30) saved for backward."""
    shape, alpha, beta, cap, scale = spec
    grad_on = torch.is_grad_enabled()
    loss, _, _ = torch.ops.losslab.composite_softmax_fwd(
        pred.contiguous(),
        target.contiguous(),
        shape,
        alpha,
        beta,
        cap,
        scale,
        float(gamma),
        grad_on and pred.requires_grad,
        grad_on and target.requires_grad,
    )
    return loss


def composite_softmax_loss(pred: torch.Tensor, target: torch.Tensor, spec: tuple, gamma: float, dim: int,
                           inplace: bool = False) -> torch.Tensor:
    """Per-example eq. (29) for ``pred``/``target`` of any shape with class dim ``dim`` (already validated);
    ``inplace``: the gradient overwrites ``pred`` (:func:`inplace_applies` said it may)."""
    if inplace and pred.shape[-1] > 0 and pred.device.type == "cpu":
        return _CompositeSoftmaxInplace.apply(pred, target, spec, gamma)
    pred_m = pred.movedim(dim, -1)
    target_m = target.movedim(dim, -1)
    batch_shape = pred_m.shape[:-1]
    K = pred_m.shape[-1]
    loss = composite_softmax_rows(pred_m.reshape(-1, K), target_m.reshape(-1, K), spec, gamma)
    return loss.reshape(batch_shape)


def matching_sigmoid(pred: torch.Tensor, target: torch.Tensor, spec: tuple, sum_only: bool = False) -> torch.Tensor:
    """Elementwise eq. (2) of the sigmoid link (already validated), gradients saved for backward.

    ``sum_only``: return the sum over all elements (a 0-dim tensor) without storing the
    per-element losses.
    """
    alpha, beta, scale = spec
    grad_on = torch.is_grad_enabled()
    loss, _, _ = torch.ops.losslab.matching_sigmoid_fwd(
        pred.contiguous(),
        target.contiguous(),
        alpha,
        beta,
        scale,
        grad_on and pred.requires_grad,
        grad_on and target.requires_grad,
        sum_only,
    )
    return loss if sum_only else loss.view(pred.shape)


def cross_entropy(x: torch.Tensor, target: torch.Tensor, ignore_index: int, label_smoothing: float) -> torch.Tensor:
    """Per-example softmax cross-entropy of logits ``x [..., K]`` (classes last, already validated)
    against integer labels ``[...]`` or probabilities ``[..., K]``; 0 at ``ignore_index``."""
    K = x.shape[-1]
    batch_shape = x.shape[:-1]
    labels = not target.is_floating_point()
    t = target.reshape(-1) if labels else target.reshape(-1, K)
    grad_on = torch.is_grad_enabled()
    loss, _, _ = torch.ops.losslab.cross_entropy_fwd(
        x.reshape(-1, K).contiguous(),
        t.contiguous(),
        int(ignore_index),
        float(label_smoothing),
        grad_on and x.requires_grad,
        grad_on and not labels and target.requires_grad,
    )
    return loss.reshape(batch_shape)


# ---------------------------------------------------------------------------------
# The gradient written over the input (composite_softmax_loss(..., inplace_backward=True))


def inplace_applies(impl, pred: torch.Tensor, target: torch.Tensor, dim: int) -> bool:
    """Whether ``inplace_backward=True`` overwrites ``pred`` on this call; raises where it may never.

    False (``pred`` untouched, the ordinary path) where no gradient of ``pred`` is taken or while
    torch.compile traces; a ``ValueError`` for the uses that cannot be made safe.
    """
    if impl == "reference":
        raise ValueError("inplace_backward=True needs the fused kernel; got impl='reference'")
    if not (torch.is_grad_enabled() and pred.requires_grad) or torch.compiler.is_compiling():
        return False
    if pred.is_leaf:
        raise ValueError(
            "inplace_backward=True overwrites pred with its gradient, so a leaf pred's .grad would share its "
            "memory (an optimizer step would then read the gradient as the parameter); use it on logits that "
            "an operation produced, or pass inplace_backward=False")
    if target.requires_grad:
        raise ValueError("inplace_backward=True cannot give target's gradient (it rereads pred, which the gradient "
                         "overwrites); pass target.detach() or inplace_backward=False")
    if dim != pred.dim() - 1 or not pred.is_contiguous():
        raise ValueError(f"inplace_backward=True needs a contiguous pred with the classes in its last dim; got dim={dim} "
                         f"of a pred of shape {tuple(pred.shape)}" + ("" if pred.is_contiguous() else " (not contiguous)"))
    return True


class _CompositeSoftmaxInplace(torch.autograd.Function):
    """Eq. (29) rows with the gradient (30) written over ``pred``'s storage by the kernel; backward
    scales that buffer by the incoming per-row gradient in place and returns it."""

    @staticmethod
    def forward(ctx, pred, target, spec, gamma):
        shape, alpha, beta, cap, scale = spec
        K = pred.shape[-1]
        buf = pred.detach().view(-1, K)  # pred's storage and version counter
        loss = torch.ops.losslab.composite_softmax_fwd_inplace_(
            buf, target.detach().reshape(-1, K).contiguous(), shape, alpha, beta, cap, scale, float(gamma))
        # The op writes through a raw pointer: bump pred's version so that an earlier op which saved
        # pred for its backward raises autograd's in-place error instead of using the gradient as pred.
        torch.autograd.graph.increment_version(buf)
        ctx.buffer = buf
        ctx.pred_shape = pred.shape
        return loss.view(pred.shape[:-1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss):
        buf, ctx.buffer = ctx.buffer, None
        if buf is None:
            raise RuntimeError("composite_softmax_loss(inplace_backward=True): the gradient was written over pred "
                               "and handed out by the first backward; a second one needs inplace_backward=False")
        return buf.mul_(grad_loss.reshape(-1, 1)).view(ctx.pred_shape), None, None, None


# ---------------------------------------------------------------------------------
# matching_loss for every link shape with a closed-form primitive, and composite_sigmoid_loss
# (csrc/matching_links.cpp: losslab::matching_link_fwd, losslab::composite_sigmoid_fwd)

# Constructors of losslab.links whose primitive is closed form, with the shape keywords their
# recipe records and how those become the operator's float[] params. links.custom (callables)
# and user-built Link values without a recipe stay on the reference.
_NO_PARAMS = ("identity", "exp", "anti_exp", "sinh", "cosh", "sigmoid", "tanh", "arcsinh", "step", "sign", "logit",
              "arctan", "arcsin", "arctanh", "tan", "sign_log1p", "neg_log1m", "log")
_LINK_PARAMS = {
    **{name: () for name in _NO_PARAMS},
    "sin": (),  # its recipe keeps the constructor's cap; link.cap is the one in force
    "smelu": ("c",),
    "huber": ("delta",),
    "power": ("d",),
    "staircase": ("thresholds", "heights"),
    "piecewise_linear": ("knots", "values"),
}
MATCHING_SHAPES = tuple(_LINK_PARAMS)
# Shapes the Triton kernel lacks: Triton's interpreter (how its kernels are tested here) has no
# libdevice, so no atan/asin; the table-driven links would need their table as a tensor.
_TRITON_MISSING = ("arctan", "arcsin", "staircase", "piecewise_linear")


def link_spec(link) -> tuple[str, float, float, float, float, tuple[float, ...]] | None:
    """``(shape, alpha, beta, cap, scale, params)`` of a link ``matching_link_fwd`` implements, else ``None``."""
    cap = math.inf if link.cap is None else float(link.cap)
    recipe = getattr(link, "recipe", None)
    if recipe is not None:
        ctor, kwargs, scales = recipe
        keys = _LINK_PARAMS.get(ctor)
        if keys is None:
            return None
        kw = dict(kwargs)
        params: list[float] = []
        for key in keys:
            value = kw[key]
            params.extend(float(v) for v in value) if isinstance(value, tuple) else params.append(float(value))
        return ctor, float(link.alpha), float(link.beta), cap, float(math.prod(scales)), tuple(params)
    old = scaling_spec(link)
    if old is not None:
        return (*old, ())
    sig = sigmoid_link_spec(link)
    if sig is not None:
        alpha, beta, scale = sig
        return "sigmoid", alpha, beta, math.inf, scale, ()
    return None


# Link shapes defined on part of the real line only; as a composite scaling they stay on the reference.
_DOMAIN_SHAPES = ("logit", "arcsin", "arctanh", "tan", "neg_log1m", "log")


def composite_sigmoid_spec(scaling) -> tuple | None:
    """The spec of a scaling ``composite_sigmoid_fwd`` takes (a closed-form link shape defined on all
    reals: identity, exp, anti_exp, sinh, cosh, sigmoid, tanh, huber, ...), else ``None``."""
    spec = link_spec(scaling)
    return None if spec is None or spec[0] in _DOMAIN_SHAPES else spec


_COVERS["matching_loss"] = (
    link_spec,
    "this link (links with a closed-form primitive only: not links.custom; on CUDA also not "
    + ", ".join(_TRITON_MISSING) + ")",
)
_COVERS["composite_sigmoid_loss"] = (
    composite_sigmoid_spec,
    "this scaling (links with a closed-form primitive defined on all reals only: not links.custom, "
    + ", ".join(_DOMAIN_SHAPES) + "; on CUDA also not " + ", ".join(_TRITON_MISSING) + ")",
)


def _ANY(spec) -> bool:
    return True


# Which specs the Triton kernels take, per loss (use_fused falls back to the reference on CUDA otherwise).
_GPU_COVERS = {
    "matching_loss": lambda spec: spec[0] not in _TRITON_MISSING,
    "composite_sigmoid_loss": lambda spec: spec[0] not in _TRITON_MISSING,
}
_FUSED_LOSSES = _FUSED_LOSSES + ("composite_sigmoid_loss",)


def check_link_domain(link, pred: torch.Tensor, target: torch.Tensor) -> None:
    """The reference's domain check (``logit``, ``log``, ``arcsin``, ...): same errors on both paths."""
    lo, hi = link.domain
    if math.isfinite(lo) or math.isfinite(hi):
        link._check_domain(link.x(pred), "pred")
        link._check_domain(link.x(target), "target")


def matching_link(pred: torch.Tensor, target: torch.Tensor, spec: tuple, sum_only: bool = False) -> torch.Tensor:
    """Elementwise eq. (2) of any fused link (already validated), gradients saved for backward.

    The uncapped sigmoid link takes its own specialised operator (``matching_sigmoid_fwd``).
    ``sum_only``: return the sum over all elements (0-dim) without storing per-element losses.
    """
    shape, alpha, beta, cap, scale, params = spec
    if shape == "sigmoid" and math.isinf(cap):
        return matching_sigmoid(pred, target, (alpha, beta, scale), sum_only=sum_only)
    grad_on = torch.is_grad_enabled()
    loss, _, _ = torch.ops.losslab.matching_link_fwd(
        pred.contiguous(), target.contiguous(), shape, alpha, beta, cap, scale, list(params),
        grad_on and pred.requires_grad, grad_on and target.requires_grad, sum_only,
    )
    return loss if sum_only else loss.view(pred.shape)


def composite_sigmoid(pred: torch.Tensor, target: torch.Tensor, spec: tuple, gamma: float,
                      sum_only: bool = False) -> torch.Tensor:
    """Elementwise eq. (24) with gamma (already validated), gradients (25) and (B.1) saved for backward."""
    shape, alpha, beta, cap, scale, params = spec
    grad_on = torch.is_grad_enabled()
    loss, _, _ = torch.ops.losslab.composite_sigmoid_fwd(
        pred.contiguous(), target.contiguous(), shape, alpha, beta, cap, scale, list(params), float(gamma),
        grad_on and pred.requires_grad, grad_on and target.requires_grad, sum_only,
    )
    return loss if sum_only else loss.view(pred.shape)


def _register_matching_link_rules() -> None:
    """Fake-tensor and autograd rules of matching_link_fwd and composite_sigmoid_fwd."""

    def fake(pred, need_pred_grad, need_target_grad, sum_only):
        loss = pred.new_empty(()) if sum_only else torch.empty_like(pred, memory_format=torch.contiguous_format)
        return _fake_outputs(pred, loss, need_pred_grad, need_target_grad)

    @torch.library.register_fake("losslab::matching_link_fwd")
    def _(pred, target, shape, alpha, beta, cap, scale, params, need_pred_grad, need_target_grad, sum_only=False):
        return fake(pred, need_pred_grad, need_target_grad, sum_only)

    @torch.library.register_fake("losslab::composite_sigmoid_fwd")
    def _(pred, target, shape, alpha, beta, cap, scale, params, gamma, need_pred_grad, need_target_grad, sum_only=False):
        return fake(pred, need_pred_grad, need_target_grad, sum_only)

    _register_loss_autograd("matching_link_fwd", n_inputs=11, per_row=False)
    _register_loss_autograd("composite_sigmoid_fwd", n_inputs=12, per_row=False)


# ---------------------------------------------------------------------------------
# The local operators of the class-parallel losses (csrc/class_parallel.cpp)

# losslab.distributed calls them inside its own autograd Functions (the collectives sit
# between the statistics pass and the gradient pass), so they need fake-tensor rules only.
_FUSED_LOSSES += ("vocab_parallel_cross_entropy", "vocab_parallel_self_normalization",
                  "vocab_parallel_composite_softmax_loss", "vocab_parallel_sampled_softmax_loss")
_COVERS.update({
    "vocab_parallel_cross_entropy": (lambda _: (), ""),
    "vocab_parallel_self_normalization": (lambda _: (), ""),
    "vocab_parallel_sampled_softmax_loss": (lambda _: (), ""),
    "vocab_parallel_composite_softmax_loss": (scaling_spec, "this scaling (identity, exp, anti_exp, sinh, cosh only)"),
})


def _register_class_parallel_rules() -> None:
    @torch.library.register_fake("losslab::vocab_parallel_lse_stats")
    def _(logits, labels, class_start, ignore_index, weight, smoothing):
        return logits.new_empty((logits.shape[0], 4 + (weight is not None) + bool(smoothing)))

    @torch.library.register_fake("losslab::vocab_parallel_lse_bwd")
    def _(logits, labels, class_start, lse, coef, onehot, smooth, weight):
        return torch.empty_like(logits, memory_format=torch.contiguous_format)

    @torch.library.register_fake("losslab::vocab_parallel_composite_stats")
    def _(pred, target, shape, alpha, beta, cap, scale, gamma):
        return pred.new_empty((pred.shape[0], 5))

    @torch.library.register_fake("losslab::vocab_parallel_composite_bwd")
    def _(pred, target, log_zh, log_zs, lin, grad_loss, shape, alpha, beta, cap, scale, gamma, need_pred_grad,
          need_target_grad):
        def grad(needed):
            return torch.empty_like(pred, memory_format=torch.contiguous_format) if needed else pred.new_empty((0,))

        return grad(need_pred_grad), grad(need_target_grad)


def use_fused_class_parallel(loss_name: str, impl, x: torch.Tensor, link=None) -> tuple[bool, tuple | None]:
    """:func:`use_fused` for the class-parallel operators, which have a CPU kernel only."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of 'auto', 'reference', 'fused'; got {impl!r}")
    if impl != "reference" and x.device.type != "cpu":
        if impl == "fused":
            raise ValueError(f"impl='fused' cannot run {loss_name} for dtype {x.dtype} on device {x.device}: "
                             f"no fused kernel for device {x.device} (CPU only)")
        return False, None
    return use_fused(loss_name, impl, x, link)
# Single-logit objectives (seed 001) and class-weighted cross-entropy: csrc/single_logit.cpp

_FUSED_LOSSES += ("batch_cross_entropy", "self_normalization")
_COVERS.update({
    "batch_cross_entropy": (lambda _: (), ""),
    "self_normalization": (lambda _: (), ""),
})


def _weight_needs_grad(class_weight) -> bool:
    return isinstance(class_weight, torch.Tensor) and class_weight.requires_grad and torch.is_grad_enabled()


def _register_single_logit_rules() -> None:
    """Fake-tensor and autograd rules of the operators of csrc/single_logit.cpp."""

    def grad_or_empty(x, needed):
        return torch.empty_like(x, memory_format=torch.contiguous_format) if needed else x.new_empty((0,))

    @torch.library.register_fake("losslab::self_normalization_fwd")
    def _(logits, labels, alpha, need_grad):
        return logits.new_empty((logits.shape[0],)), grad_or_empty(logits, need_grad)

    @torch.library.register_fake("losslab::batch_cross_entropy_fwd")
    def _(logits, labels, need_grad):
        return logits.new_empty((logits.shape[0],)), grad_or_empty(logits, need_grad)

    @torch.library.register_fake("losslab::cross_entropy_weighted_fwd")
    def _(logits, target, weight, ignore_index, label_smoothing, need_grad, need_target_grad):
        return _fake_outputs(logits, logits.new_empty((logits.shape[0],)), need_grad, need_target_grad)

    _register_loss_autograd("cross_entropy_weighted_fwd", n_inputs=7, per_row=True)

    # self_normalization_fwd -> (loss [rows], d loss_r / d logits_r [rows, K]): one row scale.
    def sn_setup(ctx, inputs, output):
        _, grad = output
        ctx.mark_non_differentiable(grad)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(grad)

    def sn_backward(ctx, grad_loss, _grad):
        (saved,) = ctx.saved_tensors
        if grad_loss is None or not ctx.needs_input_grad[0]:
            return None, None, None, None
        if saved.numel() == 0 and grad_loss.numel() != 0:
            raise RuntimeError("self_normalization_fwd was called with need_grad=False; no gradient was saved")
        g = grad_loss.unsqueeze(-1)
        return (saved.mul_(g) if _saved_buffers_released(saved) else g * saved), None, None, None

    torch.library.register_autograd("losslab::self_normalization_fwd", sn_backward, setup_context=sn_setup)

    # batch_cross_entropy_fwd -> (ell [B], Q_B [B, K]). Every ell_i holds the global
    # log-partition, so d(sum_i g_i ell_i)/dx = (sum_i g_i) Q_B - g_i at (i, y_i).
    def bce_setup(ctx, inputs, output):
        _, q = output
        ctx.mark_non_differentiable(q)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(q, inputs[1])

    def bce_backward(ctx, grad_loss, _grad):
        q, labels = ctx.saved_tensors
        if grad_loss is None or not ctx.needs_input_grad[0]:
            return None, None, None
        if q.numel() == 0 and grad_loss.numel() != 0:
            raise RuntimeError("batch_cross_entropy_fwd was called with need_grad=False; no gradient was saved")
        total = grad_loss.sum()
        out = q.mul_(total) if _saved_buffers_released(q) else q * total
        # in place on that buffer: the gradient costs no second [B, K] tensor
        return out.scatter_add_(1, labels.unsqueeze(1), -grad_loss.unsqueeze(1)), None, None

    torch.library.register_autograd("losslab::batch_cross_entropy_fwd", bce_backward, setup_context=bce_setup)


def self_normalization(x: torch.Tensor, labels: torch.Tensor, alpha: float) -> torch.Tensor:
    """Per-example self-normalization loss ``lse − x_y + α lse²`` of logits ``[..., K]`` and labels
    ``[...]`` (already validated), its gradient saved for backward."""
    K = x.shape[-1]
    loss, _ = torch.ops.losslab.self_normalization_fwd(
        x.reshape(-1, K).contiguous(), labels.reshape(-1).long().contiguous(), float(alpha),
        torch.is_grad_enabled() and x.requires_grad)
    return loss.reshape(x.shape[:-1])


def batch_cross_entropy(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The per-example terms ``L − x_{i,y_i} − log B`` of the batch cross-entropy of ``[B, K]``
    logits (already validated), ``L`` the log-sum-exp over all ``B·K`` entries."""
    loss, _ = torch.ops.losslab.batch_cross_entropy_fwd(
        x.contiguous(), labels.long().contiguous(), torch.is_grad_enabled() and x.requires_grad)
    return loss


def cross_entropy_weighted(x: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, ignore_index: int,
                           label_smoothing: float) -> torch.Tensor:
    """:func:`cross_entropy` per example with class weights ``[K]`` (the weighted mean's denominator
    is the caller's)."""
    K = x.shape[-1]
    labels = not target.is_floating_point()
    t = target.reshape(-1) if labels else target.reshape(-1, K)
    grad_on = torch.is_grad_enabled()
    loss, _, _ = torch.ops.losslab.cross_entropy_weighted_fwd(
        x.reshape(-1, K).contiguous(),
        t.contiguous(),
        weight.detach().contiguous(),
        int(ignore_index),
        float(label_smoothing),
        grad_on and x.requires_grad,
        grad_on and not labels and target.requires_grad,
    )
    return loss.reshape(x.shape[:-1])


# ---------------------------------------------------------------------------------
# hinge, squared_hinge and log_cosh (csrc/elementwise.cpp: losslab::hinge_fwd, losslab::log_cosh_fwd)

# The "link" of these losses is whether the target needs no gradient: the kernels give none for it
# (log_cosh's does, so it covers every call). CPU only: no Triton kernel.
_FUSED_LOSSES += ("hinge", "squared_hinge", "log_cosh")
_TARGET_NO_GRAD = (lambda ok: () if ok else None,
                   "a target that requires grad or for CUDA tensors (a CPU kernel that gives no gradient of target)")
_COVERS.update({"hinge": _TARGET_NO_GRAD, "squared_hinge": _TARGET_NO_GRAD,
                "log_cosh": (lambda _: (), "CUDA tensors (a CPU kernel only)")})
_GPU_COVERS.update({"hinge": lambda spec: False, "squared_hinge": lambda spec: False, "log_cosh": lambda spec: False})


def _register_elementwise_rules() -> None:
    """Fake-tensor and autograd rules of hinge_fwd and log_cosh_fwd."""

    @torch.library.register_fake("losslab::hinge_fwd")
    def _(scores, target, margin, squared, check_labels, need_grad, sum_only=False):
        loss = scores.new_empty(()) if sum_only else torch.empty_like(scores, memory_format=torch.contiguous_format)
        loss, grad, _ = _fake_outputs(scores, loss, need_grad, False)
        return loss, grad, scores.new_empty((), dtype=torch.int64)

    @torch.library.register_fake("losslab::log_cosh_fwd")
    def _(pred, target, need_pred_grad, need_target_grad, sum_only=False):
        loss = pred.new_empty(()) if sum_only else torch.empty_like(pred, memory_format=torch.contiguous_format)
        return _fake_outputs(pred, loss, need_pred_grad, need_target_grad)

    # Backward is one multiply by the saved gradient, as _register_loss_autograd's. The inputs are
    # saved too (no copy) so that under create_graph=True the gradient is recomputed from them
    # with differentiable ops: second derivatives then equal the reference's (2 [z >= 0] for the
    # squared hinge, 1 - tanh² for log_cosh) instead of the zero a saved constant would give.
    def hinge_setup(ctx, inputs, output):
        scores, target, margin, squared = inputs[:4]
        _, grad, bad = output
        ctx.mark_non_differentiable(grad, bad)
        ctx.set_materialize_grads(False)
        ctx.margin, ctx.squared = float(margin), bool(squared)
        ctx.save_for_backward(grad, scores, target)

    def hinge_backward(ctx, grad_loss, _grad, _bad):
        saved, scores, target = ctx.saved_tensors
        if grad_loss is None or not ctx.needs_input_grad[0]:
            return (None,) * 7
        if saved.numel() == 0 and grad_loss.numel() != 0:
            raise RuntimeError("hinge_fwd was called with need_grad=False; no gradient was saved")
        if torch.is_grad_enabled():  # create_graph=True
            y = target.to(scores.dtype)
            z = torch.addcmul(scores.new_tensor(ctx.margin), y, scores, value=-1)
            d = torch.where(z >= 0, -2 * y * z if ctx.squared else -y, torch.zeros_like(y))
            return (grad_loss * d,) + (None,) * 6
        out = saved.mul_(grad_loss) if _saved_buffers_released(saved) else grad_loss * saved
        return (out,) + (None,) * 6

    torch.library.register_autograd("losslab::hinge_fwd", hinge_backward, setup_context=hinge_setup)

    def log_cosh_setup(ctx, inputs, output):
        _, gp, gt = output
        ctx.mark_non_differentiable(gp, gt)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(gp, gt, inputs[0], inputs[1])

    def log_cosh_backward(ctx, grad_loss, _gp, _gt):
        gp, gt, pred, target = ctx.saved_tensors
        if grad_loss is None:
            return (None,) * 5
        out = [None, None]
        if torch.is_grad_enabled():  # create_graph=True
            g = grad_loss * torch.tanh(pred - target)
            out = [g if ctx.needs_input_grad[0] else None, -g if ctx.needs_input_grad[1] else None]
            return tuple(out) + (None,) * 3
        reuse = _saved_buffers_released(gp, gt)
        for i, (saved, flag) in enumerate(((gp, "need_pred_grad"), (gt, "need_target_grad"))):
            if ctx.needs_input_grad[i]:
                if saved.numel() == 0 and grad_loss.numel() != 0:
                    raise RuntimeError(f"log_cosh_fwd was called with {flag}=False; no gradient was saved")
                out[i] = saved.mul_(grad_loss) if reuse else grad_loss * saved
        return tuple(out) + (None,) * 3

    torch.library.register_autograd("losslab::log_cosh_fwd", log_cosh_backward, setup_context=log_cosh_setup)


def hinge(scores: torch.Tensor, target: torch.Tensor, margin: float, squared: bool, check_labels: bool,
          sum_only: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``max(0, m − y s)`` (or its square) per element, or their sum with ``sum_only``, and a 0-dim
    flag, nonzero if ``check_labels`` and a label is not ±1. ``target``: int64 or ``scores``' dtype."""
    loss, _, bad = torch.ops.losslab.hinge_fwd(
        scores.contiguous(), target.contiguous(), float(margin), bool(squared), bool(check_labels),
        torch.is_grad_enabled() and scores.requires_grad, sum_only)
    return (loss if sum_only else loss.view(scores.shape)), bad


def log_cosh(pred: torch.Tensor, target: torch.Tensor, sum_only: bool) -> torch.Tensor:
    """``log cosh(pred − target)`` per element (same dtype, already validated), or its sum with ``sum_only``."""
    grad_on = torch.is_grad_enabled()
    loss, _, _ = torch.ops.losslab.log_cosh_fwd(pred.contiguous(), target.contiguous(),
                                                grad_on and pred.requires_grad, grad_on and target.requires_grad,
                                                sum_only)
    return loss if sum_only else loss.view(pred.shape)
