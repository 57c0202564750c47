"""Memory and speed of a result copy: the streaming path against a whole-file baseline.

    python -m bench.copy [--mib 256]

Starts the GCS emulator and a fake Fliki serving one large video, then copies it in fresh
processes: once through the function's own edges (SafeDownloader -> GcsStore.store_file,
8 MiB resumable chunks) and once the naive way (read the whole body, upload it whole).
Prints, per variant, the process's peak RSS above its baseline, that peak as a fraction of the
file size, and the throughput; the ratios compare two runs made side by side on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from devstack.fakes.fliki import FakeFliki
from devstack.gcs_emulator import GcsEmulator

ROOT = Path(__file__).resolve().parent.parent

COPY = """
import json, resource, sys, time
sys.path.insert(0, {functions!r})
from google.cloud import storage
from jobcourier.edges.gcs import GcsStore
from jobcourier.edges.http import SafeDownloader
from jobcourier.model import JobKey
import requests
url, variant, name = sys.argv[1], sys.argv[2], sys.argv[3]
client = storage.Client()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
if variant == "streaming":
    store = GcsStore(client, "bench")
    with SafeDownloader(allow_private=True).open(url) as download:
        stored = store.store_file(JobKey("fliki", name), "00.mp4", download, url)
    size = stored.size
else:
    data = requests.get(url, timeout=60).content
    client.bucket("bench").blob(f"whole/{{name}}.mp4").upload_from_string(data, "video/mp4")
    size = len(data)
elapsed = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"variant": variant, "bytes": size, "seconds": elapsed,
                  "peak_rss_growth_mib": (peak - before) / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="size of the copied file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as logs:
        gcs = GcsEmulator(Path(logs))
        fliki = FakeFliki()
        try:
            env = {**os.environ, "STORAGE_EMULATOR_HOST": gcs.url}
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from google.cloud import storage; storage.Client().create_bucket('bench')",
                ],
                env=env,
                check=True,
            )
            fliki.add_job("bench", size=args.mib * 1024 * 1024)
            url = f"{fliki.url}/files/fliki/bench.mp4"
            code = COPY.format(functions=str(ROOT / "functions"))
            rows = []
            for n, variant in enumerate(("streaming", "whole-file", "streaming", "whole-file")):
                out = subprocess.run(
                    [sys.executable, "-c", code, url, variant, f"run{n}"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            fliki.stop()
            gcs.stop()
    summary = {}
    for variant in ("streaming", "whole-file"):
        runs = [r for r in rows if r["variant"] == variant]
        peak = max(r["peak_rss_growth_mib"] for r in runs)
        seconds = min(r["seconds"] for r in runs)
        summary[variant] = {
            "variant": variant,
            "file_mib": args.mib,
            "peak_rss_growth_mib": round(peak, 1),
            "peak_over_file_size": round(peak / args.mib, 3),
            "mib_per_s": round(args.mib / seconds, 1),
        }
    for row in summary.values():
        print(json.dumps(row))
    stream, whole = summary["streaming"], summary["whole-file"]
    print(
        json.dumps(
            {
                "memory_ratio_streaming_to_whole": round(
                    stream["peak_rss_growth_mib"] / max(whole["peak_rss_growth_mib"], 0.1), 3
                ),
                "speed_ratio_streaming_to_whole": round(
                    stream["mib_per_s"] / whole["mib_per_s"], 2
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
