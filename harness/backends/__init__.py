"""Framework backends: the table of frameworks, and device parsing.

Each ``<framework>_backend`` module owns, for its framework: tensors <-> numpy, devices,
seeding hooks, and float64. It is imported only by ports of that framework (and lazily by
the harness), so the harness imports with any one framework installed, or none.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from types import ModuleType

from harness.errors import DeviceUnavailableError, UsageError


@dataclass(frozen=True)
class Framework:
    """A framework id: the module that must be importable, the pip extra that installs it,
    the backend module (``None`` for framework-free ports) and its colour in plots."""

    module: str
    extra: str
    backend: str | None
    colour: str = "#495057"


#: Framework id -> how to find and install it. ``numpy`` is for framework-free ports (test
#: fakes, users' reference models). Adding a framework adds a row here and its backend.
FRAMEWORKS = {
    "torch": Framework("torch", "torch", "harness.backends.torch_backend", "#d9480f"),
    "mxnet": Framework("mxnet", "mxnet", "harness.backends.mxnet_backend", "#1864ab"),
    "jax": Framework("jax", "jax", "harness.backends.jax_backend", "#7048e8"),
    "numpy": Framework("numpy", "", "harness.backends.numpy_backend", "#2b8a3e"),
}

#: The framework whose initial weights other frameworks' ports are loaded with in the
#: cross-framework comparison (the tutorials' reference code is PyTorch).
REFERENCE_FRAMEWORK = "torch"


def loaded_backends() -> list[ModuleType]:
    """The backend modules of every framework this process has already imported (a port
    imports its own), so seeding or reporting never imports a framework."""
    out = []
    for fw in FRAMEWORKS.values():
        if fw.backend is not None and fw.module in sys.modules:
            out.append(importlib.import_module(fw.backend))
    return out


def installed_backends() -> list[ModuleType]:
    """The backend modules of every installed framework (imports them)."""
    return [importlib.import_module(fw.backend) for name, fw in FRAMEWORKS.items()
            if fw.backend is not None and framework_available(name)]


def framework_available(framework: str) -> bool:
    """Whether ``framework`` can be imported here, without importing it."""
    return importlib.util.find_spec(FRAMEWORKS[framework].module) is not None


#: Frameworks that cannot share an environment: their numpy pins conflict (JAX needs
#: numpy >= 2, MXNet 1.9 numpy < 1.24).
CONFLICTS = (frozenset({"jax", "mxnet"}),)
_NAMES = {"jax": "JAX", "mxnet": "MXNet", "torch": "PyTorch"}


def install_hint(framework: str) -> str:
    """How to get ``framework`` where it is missing: its extra or tox env; where an
    installed framework rules it out (JAX beside MXNet), its own tox env."""
    extra = FRAMEWORKS[framework].extra
    for pair in CONFLICTS:
        others = pair - {framework}
        if len(others) == 1 and framework_available(other := next(iter(others))):
            return (f"needs the {extra} tox env ({_NAMES.get(framework, framework)} cannot "
                    f"share an environment with {_NAMES.get(other, other)})")
    return f"pip install 'rnn-harness[{extra}]' (or run the `{extra}` tox env)"


def parse_device(device: str) -> tuple[str, int]:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as (kind, index); anything else is a usage error."""
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda") or (index and not index.isdigit()) or (kind == "cpu" and index):
        raise UsageError(
            f"Unknown device {device!r}.",
            context={"argument": "--device", "value": device},
            fix="pass --device cpu, cuda or cuda:N.",
        )
    return kind, int(index or 0)


def no_cuda(device: str, framework: str, why: str) -> DeviceUnavailableError:
    return DeviceUnavailableError(
        f"Device {device!r} was requested but {framework} sees no usable CUDA device.",
        context={"framework": framework, "reason": why},
        fix="run on --device cpu, or on a machine with a CUDA GPU and a CUDA build of "
        f"{framework}; CUDA test cases skip by themselves when there is none.",
    )


def one_adam_step(steps: dict[str, int], port: str) -> int:
    """Adam's step count, the same for every parameter (a checkpoint keeps one)."""
    if len(set(steps.values())) > 1:
        raise UsageError(
            "Adam's step count differs between parameters, and a checkpoint keeps one.",
            context={"steps": ", ".join(f"{k}={v}" for k, v in steps.items())},
            fix="checkpoint only after steps in which every parameter had a gradient.",
            port=port)
    return next(iter(steps.values()), 0)


def device_kind(framework: str, device: str) -> str:
    """The kind of ``device`` as ``framework`` runs it, which names its goldens: ``cpu``,
    or the backend's ``cuda-sm<NN>`` (plain ``cuda`` where the framework cannot tell its
    GPU's compute capability, as MXNet 1.9 cannot)."""
    if parse_device(device)[0] == "cpu":
        return "cpu"
    fw = FRAMEWORKS.get(framework)
    if fw is None or fw.backend is None:
        return "cuda"
    backend = importlib.import_module(fw.backend)
    kind = getattr(backend, "device_kind", None)
    return kind(device) if kind is not None else "cuda"
