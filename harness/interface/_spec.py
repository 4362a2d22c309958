"""What a tutorial states once for every framework: profiles, metrics, tolerances, its
parameter table, and its training schedule (the loop, framework-free)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import UnknownProfileError
from harness.interface._observe import NullObserver
from harness.interface._params import ParamTable
from harness.interface._port import Adapter, Params
from harness.interface._probe import Probe
from harness.interface._tolerance import Tolerance, tolerance_for
from harness.interface._trajectory import EpochRecord


@dataclass
class Loop:
    """The schedule's own state between epochs: everything a checkpoint must hold besides
    the adapter's parameters and optimizer state.

    ``data`` is what ``Schedule.prepare`` built (framework-free, never checkpointed: it is
    rebuilt from the config); ``rng`` draws the data order where the tutorial draws one;
    ``carry`` is the hidden state carried across epochs, where the tutorial carries it;
    ``extra`` holds what a schedule records on the way (e.g. logged continuations).
    """

    data: Mapping[str, Any]
    epoch: int = 0
    rng: random.Random | None = None
    carry: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: per-step observables (gradient norm, clipping, update size); a no-op by default
    observer: NullObserver = field(default_factory=NullObserver)


class Schedule(Protocol):
    """A tutorial's training loop, written once against ``Adapter``.

    It states the data order and batches, where the state is reset or cut, the optimizer
    step, clipping and the logging cadence; each framework's adapter does the arithmetic.
    """

    def prepare(self, config: Any, seed: int) -> Loop:
        """Data and data-order RNG for ``config``; ``Loop.data`` is also what the adapter's
        ``build`` receives (e.g. the vocabulary size)."""

    def epochs(self, ad: Adapter, config: Any, loop: Loop) -> Iterator[EpochRecord]:
        """Train from ``loop.epoch`` to ``config.epochs``, one record per epoch."""

    def outputs(self, ad: Adapter, config: Any, loop: Loop) -> dict[str, Any]:
        """What the tutorial shows after training, JSON-serialisable."""


@dataclass(frozen=True)
class SegmentPlan:
    """Where a tutorial golden keeps checkpoints and how their segments are gated.

    Checkpoints after epochs ``spacing, 2*spacing, ...``; each segment replays ``length``
    epochs. ``epoch_tolerances`` gate the per-epoch columns (the tutorial's figure and the
    epoch observables), ``step_tolerances`` every step's loss, gradient norm, clip decision,
    parameter and update norms; each table may hold a ``default``. ``why`` states the
    measurement (1-ulp noise against a +0.1 % learning-rate signal per segment).
    """

    spacing: int
    length: int
    epoch_tolerances: Mapping[str, Tolerance]
    step_tolerances: Mapping[str, Tolerance]
    why: str = ""
    #: gate only each segment's first ``step_limit`` steps (and stop training there), for
    #: tutorials so chaotic that 1-ulp noise outgrows any useful tolerance within an epoch;
    #: the epoch columns are then not compared
    step_limit: int | None = None
    #: port id -> its own ``step_limit``, for a port whose model is chaotic much sooner
    #: than its siblings' (e.g. a ReLU RNN among tanh ones); the others keep ``step_limit``
    port_step_limits: Mapping[str, int] = field(default_factory=dict)

    def step_limit_for(self, port_id: str) -> int | None:
        """How many steps of each segment ``port_id`` gates (``None``: whole epochs)."""
        return self.port_step_limits.get(port_id, self.step_limit)


@dataclass(frozen=True)
class TutorialSpec:
    """What every framework's ports of one tutorial share. Built once in each ``spec.py``.

    ``metrics`` are the columns compared against a golden; ``tolerances`` maps each to its
    cross-machine tolerance (``default`` applies to any metric not listed), each training
    observable to its own (``observables`` for any not listed; none: not gated) and each
    output the gate compares to ``output:<name>``. ``profile_tolerances`` replaces entries
    of that table for one profile, where that profile's noise differs (``tolerances_for``).
    ``cross_framework`` is the tolerance of one framework's port against another's started
    from the same weights, and ``cross_config`` the config change that makes the two
    frameworks' models the same model first (e.g. d2l's MXNet concise RNN is ReLU).
    ``params`` maps a variant ("" for none) to its canonical parameter table;
    ``adapt_params(params, names)`` maps another variant's parameters to ``names``.
    ``items`` says what one unit of ``EpochRecord.items`` is (throughput unit); ``probe``
    how the invariant checks exercise the ports.
    """

    name: str
    source: str
    profiles: Mapping[str, Any]
    metrics: tuple[str, ...]
    tolerances: Mapping[str, Tolerance]
    default_seed: int
    cross_framework: Mapping[str, Tolerance] = field(default_factory=dict)
    describe: Callable[[Any], str] | None = None
    schedule: Schedule | None = None
    params: Mapping[str, ParamTable] = field(default_factory=dict)
    adapt_params: Callable[[Params, tuple[str, ...]], Params] | None = None
    cross_config: Callable[[Any], Any] | None = None
    items: str = "items"
    probe: Probe | None = None
    #: whether the tutorial reads a data file found through the harness's data folder
    #: (``harness.corpus``), so reproduce instructions must say how to point at it
    needs_data: bool = False
    #: checkpoint segments of the tutorial golden (``None``: the tutorial records none)
    segments: SegmentPlan | None = None
    #: metric -> axis label saying what the figure is (summed or mean, over what)
    metric_labels: Mapping[str, str] = field(default_factory=dict)
    #: profile -> entries replacing ``tolerances``' for that profile (e.g. a tighter ``ci``)
    profile_tolerances: Mapping[str, Mapping[str, Tolerance]] = field(default_factory=dict)
    #: the data files the tutorial reads, by name: ``harness.corpus.DataSource`` (file,
    #: sha1, download URL), each found by ``harness.corpus.find_data`` the same way
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.profile_tolerances) - set(self.profiles))
        if unknown:
            raise UnknownProfileError(
                f"Tutorial {self.name!r} states tolerances for profiles it does not have.",
                context={"profile_tolerances": ", ".join(unknown),
                         "known profiles": ", ".join(sorted(self.profiles))},
                fix="key profile_tolerances by the spec's profile names.",
                tutorial=self.name, profile=unknown[0])

    def profile(self, name: str) -> Any:
        try:
            return self.profiles[name]
        except KeyError:
            raise UnknownProfileError(
                f"Tutorial {self.name!r} has no profile {name!r}.",
                context={"known profiles": ", ".join(sorted(self.profiles))},
                fix=f"pass --profile with one of: {', '.join(sorted(self.profiles))}.",
                tutorial=self.name,
                profile=name,
            ) from None

    def tolerances_for(self, profile: str | None) -> Mapping[str, Tolerance]:
        """The tolerance table a golden of ``profile`` is gated with: ``tolerances`` with
        that profile's own entries over it (None: ``tolerances`` alone)."""
        own = self.profile_tolerances.get(profile, {}) if profile is not None else {}
        return {**self.tolerances, **own} if own else self.tolerances

    def tolerance(self, metric: str, profile: str | None = None) -> Tolerance:
        return tolerance_for(self.tolerances_for(profile), metric)

    def cross_tolerances(self) -> Mapping[str, Tolerance]:
        """The one rule for a port against another framework's run or golden (``check
        --against``, the report's cross-framework column): the ``cross_framework`` table
        alone, its ``default`` covering what it does not name. Never merged with the
        golden tolerances: those are one framework's own noise, far tighter."""
        return self.cross_framework

    def same_model_config(self, profile: str) -> Any:
        """The profile's config with the cross-framework change applied (if any)."""
        config = self.profile(profile)
        return self.cross_config(config) if self.cross_config else config

    def param_table(self, variant: str) -> ParamTable:
        return self.params.get(variant) or self.params[""]


def replace_config(config: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` for spec configs (a helper for ``cross_config`` lambdas)."""
    return dataclasses.replace(config, **changes)
