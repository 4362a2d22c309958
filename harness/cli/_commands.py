"""The commands behind ``rnn-harness``: each resolves its requests, calls the gate (or
the runner, the sweeps, the report) and prints; none holds policy of its own."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.table import Table

from harness.backends import FRAMEWORKS, framework_available, install_hint
from harness.check import (
    SEGMENT_PROFILE,
    GateRequest,
    default_golden_dir,
    record_golden,
    record_initial,
    record_segments_of,
    resolve,
)
from harness.cli import _gating, _sweeps
from harness.cli._console import err, logged_progress_bar, out, progress_bar
from harness.errors import EXIT_USAGE, HarnessError, UsageError
from harness.golden import GoldenStore
from harness.interface import Trajectory
from harness.project import find_project
from harness.registry import PortEntry, Registry, Selection, normal_name
from harness.seeding import use_threads


def _store(args: argparse.Namespace) -> GoldenStore:
    return GoldenStore(args.golden_dir or default_golden_dir())


def _select(args: argparse.Namespace, registry: Registry, use_all: bool | None = None
            ) -> Selection:
    """The ports a command runs: those named, or ``--all`` limited to ``--project`` (by
    default the nearest ``[tool.rnn-harness]`` project's own ports, where it registers any)."""
    use_all = args.all if use_all is None else use_all
    project = getattr(args, "project", None)
    if project is None and use_all:
        here = find_project()
        if here.name and any(e.distribution == normal_name(here.name) for e in registry.entries()):
            project = here.name
    return registry.select(args.ports, use_all, project)


def _requests(args: argparse.Namespace, registry: Registry, ports: list[str],
              against: str | None = None, recording: bool = False) -> list[GateRequest]:
    """Every request resolved (and so validated) before anything trains."""
    return [resolve(p, args.profile, device=args.device, golden_dir=args.golden_dir,
                    registry=registry, against=against, recording=recording) for p in ports]


def _skipped_row(registry: Registry, port_id: str, profile: str, width: int) -> list[str]:
    """A port whose framework is not installed here: skipped, with the fix that works
    here (``install_hint``)."""
    fw = registry.get(port_id).framework
    return [port_id, profile, f"skipped: {install_hint(fw)}", *[""] * width]


def cmd_list(args: argparse.Namespace, registry: Registry) -> int:
    frameworks = ", ".join(f"{f} ({'installed' if framework_available(f) else 'missing'})"
                           for f in FRAMEWORKS)
    out.print(f"frameworks: {frameworks}")
    table = Table("port", "framework", "available", "profiles", "goldens (device kinds)")
    for entry in registry.entries():
        spec = registry.spec(entry.tutorial)
        profiles = ", ".join(f"{n} ({getattr(c, 'epochs', '?')} epochs)"
                             for n, c in spec.profiles.items())
        table.add_row(entry.port_id, entry.framework,
                      "yes" if framework_available(entry.framework) else
                      f"no: {install_hint(entry.framework)}",
                      profiles, _golden_kinds(entry, list(spec.profiles)))
    out.print(table)
    return 0


def _golden_kinds(entry: PortEntry, profiles: list[str]) -> str:
    """Each profile's recorded goldens by device kind (``ci: cpu, cuda-sm90``): goldens of
    a kind this machine lacks are listed here and checked where that kind runs."""
    try:
        store = GoldenStore(default_golden_dir(entry))
        found = {p: store.kinds(entry.port_id, p) for p in profiles}
    except HarnessError as exc:
        return f"? ({exc.summary})"
    return "; ".join(f"{p}: {', '.join(k)}" for p, k in found.items() if k) or "none"


def cmd_record(args: argparse.Namespace, registry: Registry) -> int:
    selection = _select(args, registry)
    for port_id in selection.skipped:
        err.print(f"skipped {port_id}: its framework is not installed")
    if args.segments_only and (args.seeds is not None or args.seed is not None
                               or args.initial_only or args.profile != SEGMENT_PROFILE):
        raise UsageError("--segments-only writes the checkpoint segments of an existing "
                         f"{SEGMENT_PROFILE} golden, with its seed: it takes --profile "
                         f"{SEGMENT_PROFILE} and no --seed, --seeds or --initial-only.",
                         context={"--profile": args.profile, "--seed": args.seed,
                                  "--seeds": args.seeds, "--initial-only": args.initial_only},
                         fix=f"e.g. `rnn-harness record --all --profile {SEGMENT_PROFILE} "
                         "--segments-only`.")
    if args.initial_only and (args.seeds is not None or args.seed is not None):
        raise UsageError("--initial-only writes the weights an existing golden was trained "
                         "from, with that golden's seed: it takes no --seed or --seeds.",
                         context={"--seed": args.seed, "--seeds": args.seeds},
                         fix="drop --seed/--seeds, or drop --initial-only to record anew.")
    if args.seeds is not None:
        return _sweeps.record_envelopes(args, registry, _store(args), selection.ports)
    requests = _requests(args, registry, selection.ports, recording=True)
    for req in requests:
        # held from before training until the new files are in place: a second record of
        # the same golden is refused at once, naming this process
        with req.store.locked(req.port_id, req.profile):
            for note in req.store.recover(req.port_id, req.profile):
                err.print(f"note: {note}")
            _record_one(args, req)
    return 0


def _record_one(args: argparse.Namespace, req: GateRequest) -> None:
    if args.initial_only:
        use_threads()
        path = record_initial(req)
        out.print(f"wrote the initial weights of {req.port_id} ({req.profile}) -> {path}")
        return
    if args.segments_only:
        err.print(f"recording the checkpoint segments of {req.port_id} ...")
        _wrote_segments(req, record_segments_of(req))
        return

    def recorded(traj: Trajectory) -> None:
        last = {k: f"{v[-1]:.6g}" for k in req.spec.metrics for v in [traj.metrics[k]]}
        out.print(f"recorded {req.port_id} ({req.profile}): {traj.num_epochs} epochs, "
                  f"final {last} -> {req.golden_path}")

    def segments_next(traj: Trajectory) -> None:
        recorded(traj)
        err.print(f"recording the checkpoint segments of {req.port_id} ...")

    with progress_bar(f"record {req.port_id} ({req.profile})") as bar:
        result = record_golden(req, seed=args.seed, progress=bar, on_segments=segments_next)
    if result.segments is None:
        recorded(result.trajectory)
    else:
        _wrote_segments(req, result.segments)


def _wrote_segments(req: GateRequest, written: tuple[int, float]) -> None:
    count, size = written
    out.print(f"wrote {count} checkpoint segments of {req.port_id} ({size:.2f} MB) -> "
              f"{req.golden_path / 'segments'}")


def cmd_check(args: argparse.Namespace, registry: Registry) -> int:
    if args.against is not None and (args.all or args.envelope):
        raise UsageError("--against checks named ports against one other port's golden; it "
                         "takes no --all and no --envelope.",
                         context={"--against": args.against, "--all": args.all,
                                  "--envelope": args.envelope},
                         fix="e.g. `rnn-harness check elman_sine/torch --against "
                         "elman_sine/mxnet --profile ci`.")
    selection = _select(args, registry)
    if args.envelope:
        code = _sweeps.check_envelopes(args, registry, _store(args), selection)
        return max(code, _nothing_checked(args, selection))
    requests = _requests(args, registry, selection.ports, args.against)
    against = f" against {args.against}" if args.against else ""
    table = _gating.check_table(f"rnn-harness check{against} ({args.profile})")
    errors: dict[str, list[str]] = {}
    worst, checked = _gating.check_ports(
        args, registry, requests, table.add_row, progress_bar,
        lambda port, detail: errors.setdefault(detail, []).append(port))
    for port_id in selection.skipped:
        table.add_row(*_skipped_row(registry, port_id, args.profile, _gating.WIDTH - 1))
    out.print(table)
    print_errors(errors)
    return max(worst, _nothing_checked(args, selection, checked))


def print_errors(errors: dict[str, list[str]]) -> None:
    """Each error's detail once, below the table, naming every port it stopped (or, for a
    port skipped for want of its data, skipped)."""
    for detail, ports in errors.items():
        if detail.startswith(_gating.SKIPPED):
            err.print(f"skipped {', '.join(ports)}:\n{detail.removeprefix(_gating.SKIPPED)}")
        else:
            err.print(f"ERROR in {', '.join(ports)}:\n{detail}")


def _nothing_checked(args: argparse.Namespace, selection: Selection,
                     checked: int | None = None) -> int:
    """0 where some port was checked; else 2 (a gate that checked nothing is not green),
    or 0 with --allow-empty, saying so either way. ``checked``: how many of the selected
    ports ran (the others lacked their data), where known."""
    if selection.ports and (checked is None or checked > 0):
        return 0
    if args.allow_empty:
        err.print("nothing was checked: every port was skipped (--allow-empty: exit 0)")
        return 0
    err.print(str(UsageError(
        "Nothing was checked: every port was skipped, so this gate proves nothing.",
        context={"skipped": ", ".join(selection.skipped) or None,
                 "without their data": ("all selected ports" if selection.ports else None)},
        fix="install the frameworks the ports need (see `rnn-harness list`) and give them "
        "their data (char_rnn: RNN_HARNESS_DATA), or pass --allow-empty where an empty check "
        "is expected.")))
    return EXIT_USAGE


def cmd_calibrate(args: argparse.Namespace, registry: Registry) -> int:
    from harness.calibrate import calibrate, calibrate_stored_segments, variants_for, with_field
    from harness.check import golden_threads
    from harness.seeding import override_threads

    ports = _select(args, registry).ports
    if not 0 < args.lr_change < 1:
        raise UsageError("--lr-change must lie between 0 and 1 (a fraction of the lr).",
                         context={"--lr-change": args.lr_change},
                         fix="e.g. --lr-change 0.001 for +0.1 %.")
    if args.variants and args.segments:
        raise UsageError("--variants trains the --profile run under each kernel variant; "
                         "it does not replay segments.", context={"--segments": True},
                         fix="drop one: `calibrate PORT --profile ci --variants`.")
    profile = SEGMENT_PROFILE if args.segments else args.profile
    requests = [resolve(p, profile, device=args.device, golden_dir=args.golden_dir,
                        registry=registry) for p in ports]
    for req in requests:  # a missing lr field is refused before anything trains
        with_field(req.spec.profile(profile), args.lr_field, 1 + args.lr_change)
    override_threads(args.threads)
    what = "segments" if args.segments else args.profile
    for req in requests:
        use_threads(golden_threads(req))
        with progress_bar(f"calibrate {req.port_id} ({what})") as bar:
            cal = (calibrate_stored_segments(req, lr_change=args.lr_change,
                                             lr_field=args.lr_field, progress=bar)
                   if args.segments else
                   calibrate(req.port_id, profile, lr_change=args.lr_change,
                             lr_field=args.lr_field, device=args.device, registry=registry,
                             progress=bar, variants=variants_for(
                                 registry.get(req.port_id).framework) if args.variants
                             else None))
        across = ("noise (kernel variants)",) if args.variants else ()
        table = Table("quantity", "noise (1 ulp)", *across, f"signal ({args.lr_field} "
                      f"+{args.lr_change:.3g})", "spec tolerance", "caught", "verdict",
                      title=f"tolerance calibration: {req.port_id} ({what}), max difference")
        for q in cal.quantities:
            table.add_row(*q.row())
        out.print(table)
        out.print(cal.summary(), markup=False, highlight=False)
        out.print(cal.block() + "\n", markup=False, highlight=False, soft_wrap=True)
    return 0


def cmd_report(args: argparse.Namespace, registry: Registry) -> int:
    from harness.report import (
        build_report,
        load_runs,
        require_report_extra,
        save_runs,
        verdict_line,
        write_report,
    )

    check_out_dir(args.out, "--out")
    if args.save_runs:
        check_out_dir(args.save_runs, "--save-runs")
    require_report_extra()
    if args.from_runs:
        if args.ports or args.all or args.save_runs:
            raise UsageError("--from-runs builds from saved runs: name no ports, no --all "
                             "and no --save-runs with it.",
                             context={"--from-runs": args.from_runs},
                             fix="e.g. `rnn-harness report --from-runs runs-torch/ --from-runs "
                             "runs-jax/ --out report/`.")
        runs = load_runs(args.from_runs)
    else:
        selection = _select(args, registry, args.all or not args.ports)
        for port_id in selection.skipped:
            err.print(f"skipped {port_id}: its framework is not installed here; "
                      f"{install_hint(registry.get(port_id).framework)}")
        runs = _gating.collect_ports(args, registry, selection.ports, _store(args),
                                     logged_progress_bar)
        runs.command = _report_command(args)
        if args.save_runs:
            out.print(f"runs saved -> {save_runs(runs, args.save_runs)}")
    report = build_report(runs, _store(args), registry)
    paths = write_report(report, args.out)
    out.print(f"{verdict_line(report)[1]}\nreport written -> {paths['report.html']}")
    return 0


def check_out_dir(path: Path, option: str) -> None:
    """Refuse, before any training, an output folder that is a file, lies under a file, or
    cannot be written (it is created later where missing)."""
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent  # the nearest folder that exists: where the new one is made
    problem = None
    if probe.exists() and not probe.is_dir():
        problem = f"{probe} is a file, not a folder"
    elif not os.access(probe, os.W_OK | os.X_OK):
        problem = f"{probe} is not writable"
    if problem is not None:
        raise UsageError(f"{option} {path} cannot hold the report: {problem}; nothing was "
                         "trained.", context={option: path, "problem": problem},
                         fix=f"pass {option} a folder you can write (it is created if missing), "
                         f"e.g. {option} report/.")


def _report_command(args: argparse.Namespace) -> str:
    devices = " ".join(f"--device {d}" for d in args.device or ["cpu"])
    return (f"rnn-harness report {' '.join(args.ports) or '--all'} --profile {args.profile} "
            f"{devices} --out {args.out}")
