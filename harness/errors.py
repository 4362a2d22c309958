"""Typed harness errors: one base class, one subclass per failure, each message ending in a fix."""

from __future__ import annotations

from collections.abc import Mapping

#: Exit code of the CLI for a regression (a run that does not match its golden).
EXIT_REGRESSION = 1
#: Exit code of the CLI for a usage or input error (nothing was compared).
EXIT_USAGE = 2
#: Exit code of the CLI for a port whose own code raised during training (a broken port,
#: not a moved number). With several ports the highest code wins: 3 > 2 > 1 > 0.
EXIT_PORT_CRASH = 3


class HarnessError(Exception):
    """Base of every error the harness raises on purpose.

    The message has three parts: a one-line summary, indented ``key: value`` context
    lines, and the fix. ``tutorial``, ``port`` and ``profile`` are kept as attributes.
    """

    exit_code = EXIT_USAGE

    def __init__(
        self,
        summary: str,
        *,
        fix: str,
        context: Mapping[str, object] | None = None,
        details: str = "",
        tutorial: str | None = None,
        port: str | None = None,
        profile: str | None = None,
    ) -> None:
        self.summary = summary
        self.fix = fix
        self.context = dict(context or {})
        self.details = details
        self.tutorial = tutorial
        self.port = port
        self.profile = profile
        super().__init__(self.render())

    def render(self) -> str:
        lines = [self.summary]
        ctx = {"port": self.port, "profile": self.profile, **self.context}
        lines += [f"  {key}: {value}" for key, value in ctx.items() if value is not None]
        if self.details:
            lines.append(self.details.rstrip())
        lines.append(f"Fix: {self.fix}")
        return "\n".join(lines)


class UsageError(HarnessError):
    """A command-line argument or API argument is wrong."""


class UnknownPortError(UsageError):
    """No port is registered under the requested id."""


class UnknownProfileError(UsageError):
    """The tutorial has no profile of the requested name."""


class RegistryError(HarnessError):
    """A registry entry is malformed, duplicated, or does not satisfy the Port protocol."""


class FrameworkMissingError(HarnessError):
    """The port's framework is not installed here."""


class DeviceUnavailableError(HarnessError):
    """The requested device (e.g. CUDA) does not exist on this machine."""


class GoldenError(HarnessError):
    """Base of errors about a golden file: missing, corrupt, foreign."""


class GoldenMissingError(GoldenError):
    """No golden has been recorded for this port and profile."""


class GoldenCorruptError(GoldenError):
    """A golden file cannot be parsed (truncated CSV, invalid JSON, missing field)."""


class SchemaVersionError(GoldenError):
    """A golden's schema version is not one this harness can read."""


class ConfigMismatchError(GoldenError):
    """The golden was recorded with a different configuration than the current profile."""


class GoldenTooLargeError(GoldenCorruptError):
    """A golden file is larger than the store's limit for its kind, so it is not read."""


class GoldenStoreError(GoldenError):
    """The golden store itself (``--golden-dir``, ``$RNN_HARNESS_GOLDEN``) is a file, not a
    folder: no golden can be read from it or written to it. (A store that does not exist
    yet raises ``GoldenMissingError``, saying so: recording creates it.)"""


class GoldenLockedError(GoldenError):
    """Another process is writing the same golden (``record``, ``--update-golden``)."""


class GoldenWriteError(GoldenError):
    """A golden could not be written (a read-only folder, a full disk); nothing changed."""


class UnsafePathError(UsageError):
    """A port id or profile would place a golden outside the store (``..``, a separator,
    an absolute path)."""


class CorpusError(HarnessError):
    """The char_rnn corpus is missing, unreachable, or has the wrong checksum."""


class CorpusUnavailableError(CorpusError):
    """No corpus on this machine and none to fetch, with nothing configured to point at one
    (``RNN_HARNESS_DATA`` unset): the ports that need it are skipped, not failed. A
    configured place without the file, or a file with the wrong checksum, stays a
    ``CorpusError``: the user meant to use it."""


class DivergenceError(HarnessError):
    """Training produced a NaN or infinite metric: the run diverged."""

    exit_code = EXIT_REGRESSION


class PortCrashError(HarnessError):
    """The port's own code raised during training (a bug in the port, not bad input)."""

    exit_code = EXIT_PORT_CRASH


class SweepFailedError(HarnessError):
    """Some runs of a sweep failed (each is named); what needed them was not done."""

    exit_code = EXIT_REGRESSION


class RegressionError(HarnessError):
    """A run does not match its golden within the spec's tolerances."""

    exit_code = EXIT_REGRESSION


class InvariantViolation(HarnessError):
    """A port breaks an invariant (shape, gradient, agreement, truncation, clipping...)."""

    exit_code = EXIT_REGRESSION

    def __init__(self, summary: str, *, check: str, parameter: str, example: str, fix: str,
                 port: str | None = None, context: Mapping[str, object] | None = None) -> None:
        self.check, self.parameter, self.example = check, parameter, example
        super().__init__(summary, fix=fix, port=port, context={
            "check": check, "parameter": parameter, "example": example, **(context or {})})


class MissingHookError(HarnessError):
    """A check needs an optional port method this port does not have (the test skips)."""

    def __init__(self, port_id: str, hook: str, needed_for: str) -> None:
        super().__init__(
            f"{port_id} has no optional method {hook}(), needed for {needed_for}.",
            port=port_id,
            fix=f"implement {hook}() on the port (see harness.invariants) to enable this check.")


class ChildRunError(HarnessError, RuntimeError):
    """A run in a child process (an invariant check's fresh interpreter) failed; its
    stderr is the message's detail. Also a RuntimeError, which callers caught before."""


class SavedRunsConflictError(UsageError):
    """Saved-runs folders to merge disagree (the same port x device, or the profile)."""


class ConfigChangedError(ConfigMismatchError):
    """The spec's profile no longer has the config its golden was recorded with: a
    regression (the numbers would move), each changed field named with both values."""

    exit_code = EXIT_REGRESSION


class RestoreNotExactError(GoldenError):
    """A port restored from its own checkpoint does not continue its run bit for bit (it
    keeps state no checkpoint holds: a private RNG, a counter...), so its segments could
    never pass: ``record`` refuses to write such a golden."""
