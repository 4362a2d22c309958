"""Backfill the numerics provenance (issue 21) into goldens recorded before it was kept.

Adds the ``provenance`` key, and nothing else, to each ``golden/<tutorial>/<port>/<profile>/
meta.json`` that lacks it. Only what can be vouched for as the recording machine's is
written: each framework's block and numpy's come from probing environments whose versions
equal the ones the golden records, on a CPU whose model is the one it records; threads and
versions are copied from the golden's own meta. A golden whose versions or CPU no probe
matches is left alone and listed. No sha256 covers meta.json itself (the meta holds the
trajectory's), so adding a key leaves the store consistent; the rewrite is refused unless
the old text is exactly what the codec's layout gives, so the diff is the added key alone.

    python benchmarks/backfill_provenance.py torch=.tox/torch/bin/python \
        mxnet=.tox/mxnet/bin/python jax=.tox/jax/bin/python [--golden-dir golden] [--write]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.provenance import THREAD_KEYS
from harness.registry import default_registry

MARK = "2026-12-07, same machine kind and versions as recorded"
#: One port per framework whose start imports the framework and sets the thread policy
#: (and for JAX its XLA flags) as a recording run does.
PROBE_PORTS = {"torch": "elman_sine/torch", "mxnet": "elman_sine/mxnet", "jax": "elman_sine/jax"}
PROBE = """
import json, sys
from harness.runner import start_port
from harness.seeding import environment_info
start_port({port!r}, "ci", threads=1)
json.dump(environment_info()["provenance"], sys.stdout)
"""


def probe(framework: str, python: str) -> dict[str, Any]:
    """The provenance of a run of ``framework``'s probe port, started in ``python``."""
    code = PROBE.format(port=PROBE_PORTS[framework])
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def meta_text(meta: dict[str, Any]) -> str:
    """The codec's layout (``harness.golden.meta_text``)."""
    return json.dumps(meta, indent=2, sort_keys=True) + "\n"


def block_for(meta: dict[str, Any], framework: str, probes: list[dict[str, Any]]
              ) -> tuple[dict[str, Any] | None, str]:
    """The provenance to add, or None and why not."""
    versions = meta.get("versions") or {}
    fw = [p for p in probes if framework in p
          and p["versions"].get(framework) == versions.get(framework)]
    np_ = [p for p in probes if p["numpy"]["version"] == versions.get("numpy")]
    if not fw:
        return None, f"no probe has {framework} {versions.get(framework)}"
    if not np_:
        return None, f"no probe has numpy {versions.get('numpy')}"
    if fw[0]["cpu"]["model"] != meta.get("processor") or meta.get("device") != "cpu":
        return None, f"recorded on {meta.get('processor')} / {meta.get('device')}"
    env = fw[0]["env"]
    forced = {k: v for k, v in env.items() if v is not None and k != "XLA_FLAGS"}
    if forced:
        return None, f"the probe ran with kernel settings {forced}"
    if framework == "jax" and env["XLA_FLAGS"] != meta["threads"].get("xla_flags"):
        recorded = meta["threads"].get("xla_flags")
        return None, f"XLA_FLAGS {env['XLA_FLAGS']!r} vs recorded {recorded!r}"
    return {"cpu": fw[0]["cpu"], "device": {"kind": "cpu"}, "env": env,
            "numpy": np_[0]["numpy"], framework: fw[0][framework],
            "threads": {k: meta["threads"][k] for k in THREAD_KEYS if k in meta["threads"]},
            "versions": {k: v for k, v in versions.items() if k != "rnn-harness"},
            "backfilled": MARK}, "ok"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("envs", nargs="+", metavar="FRAMEWORK=PYTHON",
                        help="each framework's environment, e.g. torch=.tox/torch/bin/python")
    parser.add_argument("--golden-dir", type=Path, default=Path("golden"))
    parser.add_argument("--write", action="store_true", help="write (default: dry run)")
    args = parser.parse_args()
    probes = [probe(*env.split("=", 1)) for env in args.envs]
    registry = default_registry()
    left = 0
    for path in sorted(args.golden_dir.glob("*/*/*/meta.json")):
        text = path.read_text()
        meta = json.loads(text)
        if "provenance" in meta:
            continue
        framework = registry.get(meta["port"]).framework
        block, why = block_for(meta, framework, probes)
        if block is None or meta_text(meta) != text:
            left += 1
            print(f"left   {path}: {why if block is None else 'not in the codec layout'}")
            continue
        new = meta_text({**meta, "provenance": block})
        if {k: v for k, v in json.loads(new).items() if k != "provenance"} != meta:
            raise SystemExit(f"{path}: the rewrite would change more than the added key")
        if args.write:
            path.write_text(new)
        print(f"{'added' if args.write else 'would add'} {path}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
