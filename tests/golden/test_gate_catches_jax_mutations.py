"""The golden gate catches a 0.1 % learning-rate edit in every JAX port: a mutated copy of
reference_impls is checked against the committed goldens (``rnn-harness check`` exits 1).

The hidden-state cut is not mutated here: in the JAX ports each step is its own function
of the parameters, with the carried state as a constant, so removing ``stop_gradient``
from ``cut`` changes no training value; the invariant ``truncation_grads`` check is what
covers it (tests/reference_impls/test_invariants.py).
"""

import pytest

from harness.pytest_plugin import require_data
from harness.registry import default_registry
from tests.golden.test_gate_catches_mutations import run_mutated

pytest.importorskip("jax", reason="install the jax extra: pip install 'rnn-harness[jax]'")

pytestmark = [pytest.mark.jax]

#: file under reference_impls -> (exact text, replacement): lr * 1.001
LR_EDITS = {
    "elman_sine/jax_port.py": ("_sgd(self.params, self._grads, self.config.lr)",
                               "_sgd(self.params, self._grads, self.config.lr * 1.001)"),
    "sin_cos/jax_port.py": ("optax.adam(config.lr,", "optax.adam(config.lr * 1.001,"),
    "rnn_windows/jax_port.py": ("optax.adam(config.lr,", "optax.adam(config.lr * 1.001,"),
    "char_rnn/jax_port.py": ("_sgd(self.params, self.grads(), self.config.lr)",
                             "_sgd(self.params, self.grads(), self.config.lr * 1.001)"),
}

JAX_PORTS = [e for e in default_registry().entries() if e.framework == "jax"]


@pytest.mark.parametrize("entry", JAX_PORTS, ids=[e.port_id.replace("/", "-") for e in JAX_PORTS])
def test_check_fails_on_a_jax_port_with_a_changed_learning_rate(tmp_path, entry):
    rel_file = f"{entry.tutorial}/jax_port.py"
    old, new = LR_EDITS[rel_file]
    require_data(entry.port_id)  # char_rnn without its corpus: skip naming the fix
    result = run_mutated(tmp_path, entry.port_id, rel_file, old, new)
    assert result.returncode == 1, result.stdout + result.stderr
    # the ci prefix names "first divergent epoch N"; a checkpoint segment "first divergent:
    # segment from epoch N, ..."
    assert ("first divergent epoch" in result.stderr
            or "first divergent: segment" in result.stderr), result.stderr
