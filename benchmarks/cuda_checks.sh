#!/bin/bash
# The CUDA checks of the torch and JAX ports, for a machine with a GPU (not a test; CI has
# no GPU). Writes into OUT (default ./cuda-checks):
#   env.txt            versions, GPU, CPU
#   devices.jsonl      benchmarks/measure_devices.py: one step and the ci run, CUDA vs CPU
#   pytest_cuda.txt    the CUDA invariant cases (pytest -m cuda)
#   check_cuda.txt     `check --all --profile ci --device cuda` against the CPU goldens
#   check_cpu.txt      `check --all --profile ci` on this machine's CPU
#   repeat.txt         two CUDA runs of each ci profile: bit-identical or not
# Usage: RNN_HARNESS_DATA=... bash benchmarks/cuda_checks.sh [OUT]   (about 4 min on an H200
# with 16 cores: the parts run side by side; each process uses one thread).
set -u
OUT=${1:-cuda-checks}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONHASHSEED=0 COLUMNS=220
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # several JAX processes share the GPU
T=${CUDA_CHECK_TIMEOUT:-600}
{ python3 -c "import sys, numpy; print('python', sys.version.split()[0], 'numpy', numpy.__version__)"
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1
  python3 -c "import jax; print('jax', jax.__version__, jax.devices())" 2>&1
  nvidia-smi -L; nproc; lscpu | grep -m1 "Model name"; } > "$OUT/env.txt" 2>&1
( timeout "$T" python3 benchmarks/measure_devices.py > "$OUT/devices.jsonl" 2> "$OUT/devices.err" ) &
( HYPOTHESIS_PROFILE=ci timeout "$T" python3 -m pytest -m cuda -n 8 -p no:cacheprovider \
    -p no:benchmark -rfEs --tb=short tests/reference_impls/test_invariants.py \
    tests/reference_impls/elman_sine/test_torch_batched_port.py > "$OUT/pytest_cuda.txt" 2>&1 ) &
( timeout "$T" python3 -m harness check --all --profile ci --device cuda --workers 4 \
    > "$OUT/check_cuda.txt" 2>&1; echo "rc=$?" >> "$OUT/check_cuda.txt" ) &
( timeout "$T" python3 -m harness check --all --profile ci --workers 4 \
    > "$OUT/check_cpu.txt" 2>&1; echo "rc=$?" >> "$OUT/check_cpu.txt" ) &
( timeout "$T" python3 - > "$OUT/repeat.txt" 2>&1 <<'PY'
import time

import numpy as np

from harness.registry import default_registry
from harness.runner import run_port

registry = default_registry()
for port in [p for p in registry.ids() if registry.available(p)]:
    began = time.perf_counter()
    try:
        a, b = (run_port(port, "ci", device="cuda") for _ in range(2))
        same = all(np.array_equal(a.metrics[k], b.metrics[k]) for k in a.metrics)
        print(port, "two cuda ci runs bit-identical:", same,
              f"{(time.perf_counter() - began) / 2:.1f} s/run", flush=True)
    except Exception as exc:  # a port's failure is a finding: report it and go on
        print(port, "ERROR", type(exc).__name__, str(exc).splitlines()[0][:200], flush=True)
PY
) &
wait
tail -n 3 "$OUT/pytest_cuda.txt"; tail -n 1 "$OUT/check_cuda.txt" "$OUT/check_cpu.txt"; cat "$OUT/repeat.txt"
