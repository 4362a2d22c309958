"""Same seed, same machine, same versions: bitwise-identical trajectories across processes."""

import json
import subprocess
import sys

import pytest

CODE = """
import json, sys
from harness.runner import run_port
t = run_port(sys.argv[1], 'ci', seed=int(sys.argv[2]))
print(json.dumps({k: v.tolist() for k, v in t.metrics.items()}))
"""


def trajectory_in_subprocess(port_id, seed):
    out = subprocess.run([sys.executable, "-c", CODE, port_id, str(seed)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("port_id", [
    pytest.param("elman_sine/torch", marks=pytest.mark.torch),
    pytest.param("elman_sine/mxnet", marks=pytest.mark.mxnet),
])
def test_two_processes_with_one_seed_agree_bitwise(port_id):
    first = trajectory_in_subprocess(port_id, 0)
    assert trajectory_in_subprocess(port_id, 0) == first
    assert trajectory_in_subprocess(port_id, 1) != first
