# src/losslab/kernels/_triton_src.py decorates Triton kernels when it is imported, which
# fixes for the whole process whether they run compiled (GPU) or in Triton's interpreter
# (TRITON_INTERPRET=1), and it needs triton installed. It has no doctests; the launchers
# import it on first use and tests/test_triton_kernels.py chooses the interpreter first.
collect_ignore = ["src/losslab/kernels/_triton_src.py"]
