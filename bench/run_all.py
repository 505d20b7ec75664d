"""``make bench``: run every benchmark in turn; each writes ``bench/results/<name>.json``.

Pass ``--quick`` to run them all at tiny sizes (results then go under ``bench/.work``).
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "bench.bench_rules",
    "bench.bench_import",
    "bench.bench_expiry",
    "bench.bench_purchase_cost",
    "bench.bench_http",
    "bench.bench_pages",
)
# bench_rules has no tiny mode of its own; it is short anyway
QUICK_CAPABLE = {
    "bench.bench_import",
    "bench.bench_expiry",
    "bench.bench_purchase_cost",
    "bench.bench_http",
    "bench.bench_pages",
}


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    failed = []
    for module in BENCHMARKS:
        args = [sys.executable, "-m", module]
        if quick:
            if module not in QUICK_CAPABLE:
                continue
            args.append("--quick")
        print(f"== {' '.join(args[1:])}", flush=True)
        if subprocess.run(args, check=False).returncode != 0:
            failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
