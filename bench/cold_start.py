"""Cold-start import cost of the function's paths, in fresh interpreters.

    python -m bench.cold_start [--runs 7]

Prints the median wall time of the imports each path needs (entry point only; a check that
only reschedules: + requests + google-cloud-tasks; the copy path: + google-cloud-storage),
and their ratios to the reschedule-only path, measured in the same run."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = {
    "entry point": "import main",
    "reschedule only": "import main, jobcourier.edges.http, jobcourier.edges.cloud_tasks, "
    "jobcourier.edges.ledger",
    "copy": "import main, jobcourier.edges.http, jobcourier.edges.cloud_tasks, "
    "jobcourier.edges.ledger, jobcourier.edges.gcs",
}
PROBE = """
import sys, time
sys.path.insert(0, {functions!r})
t = time.perf_counter()
{imports}
print((time.perf_counter() - t) * 1000, len(sys.modules))
"""


def measure(imports: str) -> tuple[float, int]:
    code = PROBE.format(functions=str(ROOT / "functions"), imports=imports)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, int]]] = {}
    for _ in range(args.runs):  # interleaved, so a noisy neighbour hits every path alike
        for name, imports in PATHS.items():
            results.setdefault(name, []).append(measure(imports))
    base = statistics.median(ms for ms, _ in results["reschedule only"])
    for name, samples in results.items():
        median = statistics.median(ms for ms, _ in samples)
        print(
            json.dumps(
                {
                    "path": name,
                    "import_ms_median": round(median, 1),
                    "modules": samples[0][1],
                    "ratio_to_reschedule": round(median / base, 2),
                }
            )
        )


if __name__ == "__main__":
    main()
