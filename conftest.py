import os

import torch

# Triton decides between compiling and its interpreter when a function is decorated, and
# its own standard library (tl.zeros, ...) is decorated when triton is imported, which
# importing losslab (through torch.library) already does. So the choice is made here,
# before anything is collected: without a CUDA device the Triton kernels run in the
# interpreter (TRITON_INTERPRET=1), as tests/test_triton_kernels.py expects.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# src/losslab/kernels/_triton_src.py decorates the kernels when imported and needs triton;
# it has no doctests (the launchers import it on first use).
collect_ignore = ["src/losslab/kernels/_triton_src.py"]
collect_ignore.append("src/losslab/kernels/_triton_single_logit.py")
