"""Every registered loss against its fastest available peer: ``losslab bench`` as a script.

Forward+backward of the mean loss on the same float32 tensors, the loss and its peers
(PyTorch's own loss, ``torch.compile`` of it with ``--compile``, the ``entmax``
package, pytorch-metric-learning, or a straightforward PyTorch implementation) in
interleaved rounds; medians of per-round time ratios and peak allocated bytes. The
cases and peers live in ``losslab.experiments.bench_peers``, the measuring in
``losslab.experiments.bench``; this script takes the command's options and writes
``<--out>/bench/bench.{json,md,png}``.

Run::

    PYTHONPATH=src python benchmarks/bench_registry.py --threads 2 --rounds 3     # every family, real sizes
    PYTHONPATH=src python benchmarks/bench_registry.py --family ranking --size tiny --rounds 2
"""
from __future__ import annotations

import sys

from losslab import cli

if __name__ == "__main__":
    sys.exit(cli.main(["bench", *sys.argv[1:]]))
