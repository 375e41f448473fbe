"""CLI start-up time: `lmsdb --help` and `lmsdb shard route user 5`, median wall-clock seconds.

Each run is a fresh interpreter that imports lmsdb from a source tree (default: this
checkout) and runs the command, the way a script calling `lmsdb` in a loop pays for it.
`shard route` runs against a seeded SQLite topology in a temporary directory.
``--baseline DIR`` runs another source tree (an older lmsdb, e.g.
``git archive <commit> | tar -x -C DIR``) in turns with this one, under the same load.

    python benchmarks/startup.py
    python benchmarks/startup.py --runs 20 --baseline /tmp/before
    python benchmarks/startup.py --json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from benchmarks.machine import machine  # noqa: E402 - after the path is set

COMMANDS = {"--help": ["--help"], "shard route": ["shard", "route", "user", "5"]}


def write_topology(directory: Path) -> Path:
    """Three SQLite shards and a seeded catalog (the map `shard route` reads)."""
    lines = ["[catalog]", f'url = "sqlite:///{directory}/catalog.db"']
    for i in range(3):
        lines += [
            "[[shards]]",
            f'name = "shard-{i}"',
            f'primary = "sqlite:///{directory}/shard-{i}.db"',
            f"ranges = {{ user = [{i * 1000}, {(i + 1) * 1000}], "
            f"course = [{i * 100}, {(i + 1) * 100}] }}",
        ]
    path = directory / "topology.toml"
    path.write_text("\n".join(lines) + "\n")
    from lms_db.router import Router
    from lms_db.topology.spec import load_topology

    Router.from_topology(load_topology(path), seed=True).close()
    return path


def run_once(tree: Path, argv: list[str], topology: Path) -> float:
    """Seconds for one fresh interpreter to run ``lmsdb argv`` from ``tree``."""
    code = (
        f"import sys; sys.path.insert(0, {str(tree)!r}); from lmsdb_cli.app import main; "
        f"sys.argv = ['lmsdb', *{argv!r}]; main()"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=topology.parent,
        env={"LMSDB_TOPOLOGY": str(topology), "PATH": "/usr/bin:/bin"},
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"lmsdb {' '.join(argv)} from {tree} failed:\n{done.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per command and tree")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="another lmsdb source tree to measure in turns with this one",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if args.baseline is not None and not (args.baseline / "lmsdb_cli").is_dir():
        parser.error(f"--baseline {args.baseline}: not an lmsdb source tree")
    trees = {"this tree": HERE} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    samples: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="lmsdb-startup-bench-") as tmp:
        topology = write_topology(Path(tmp))
        for _ in range(max(1, args.runs)):
            for command, argv in COMMANDS.items():
                for name, tree in trees.items():  # in turns, so drift hits both alike
                    samples.setdefault((name, command), []).append(run_once(tree, argv, topology))
    rows: list[dict[str, Any]] = [
        {
            "tree": name,
            "command": f"lmsdb {command}",
            "median_seconds": round(statistics.median(s), 3),
            "min_seconds": round(min(s), 3),
        }
        for (name, command), s in samples.items()
    ]
    report = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "python": platform.python_version(),
        "runs": args.runs,
        "results": rows,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"machine: {report['machine']}, Python {report['python']}, {args.runs} runs each")
    print("| command | tree | median s | min s |")
    print("| --- | --- | --- | --- |")
    for row in sorted(rows, key=lambda r: (r["command"], r["tree"] != "baseline")):
        print(
            f"| `{row['command']}` | {row['tree']} | {row['median_seconds']:.3f} | "
            f"{row['min_seconds']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
