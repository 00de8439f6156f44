"""Run every benchmark (quick sizes) and write a markdown table to ``benchmarks/results/``.

``make bench`` runs this. Each benchmark runs as its own process (the wall time in the table
is that whole process, data generation and JVM start included) and prints ``BENCH {json}``
lines (:func:`benchmarks.common.emit`): our figure, the peer's and the ratio (> 1: ours is
better), and what was timed. The table records the machine — CPU model, ``nproc``, memory and
the load average before and after each benchmark — because the machine is usually shared and
absolute numbers move with its load; the ratios of one run are the comparable part.

    .venv/bin/python benchmarks/run_all.py [--only files_scale,file_latency] [--full] [--out PATH]

Benchmarks needing a service start it themselves (Kafka, Azurite, the Event Hubs test
server) or are reported as failed with their last output lines; the total budget is
``--budget`` seconds (default 600): what does not fit is reported as not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
QUICK: dict[str, list[str]] = {
    "files_scale": [],
    "file_latency": ["--files", "20", "--warmup", "3"],
    "files_to_delta": [],
    "kafka_to_delta": ["--events", "300000", "--batch", "100000"],
    "merge_throughput": ["--rows", "200000", "--changes", "10000", "--updates", "8000", "--batches", "3"],
    "delta_maintenance": ["--batches", "300"],
    "azure_checkpoint_cost": ["--batches", "100"],
    "azure_files_to_delta": ["--files", "20", "--rows", "2000", "--small", "10", "--repeat", "2"],
    "eventhub_to_delta": ["--events", "60000", "--batch", "20000", "--rounds", "1"],
}
"""Benchmark → arguments of the quick run (``--full``: each benchmark's own defaults)."""
TIMEOUT = {"files_to_delta": 240, "kafka_to_delta": 240, "merge_throughput": 200}


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    model = "unknown"
    mem = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    return {"cpu": model, "nproc": str(os.cpu_count()), "memory": mem, "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}"}


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def run_one(name: str, args: list[str], timeout: float) -> dict:
    """Run one benchmark; its BENCH lines, wall time, loads and (on failure) its output tail."""
    before = load()
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        proc = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=timeout)
        out, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        code = f"timeout after {timeout:.0f}s"
    wall = time.perf_counter() - t0
    figures = [json.loads(line[6:]) for line in out.splitlines() if line.startswith("BENCH ")]
    tail = [line for line in out.splitlines() if not line.startswith("BENCH ")][-6:]
    print(f"{name}: {len(figures)} figure(s) in {wall:.0f}s (exit {code})", flush=True)
    return {"name": name, "args": args, "wall_s": wall, "code": code, "figures": figures, "tail": tail,
            "load_before": before, "load_after": load()}


def _num(value: float, unit: str) -> str:
    if unit == "bytes":
        return f"{value / 1024:,.1f} KiB"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def render(results: list[dict], info: dict[str, str], skipped: list[str], started: str) -> str:
    lines = [f"# Benchmarks ({started})", "",
             f"Machine: {info['cpu']}, nproc {info['nproc']}, {info['memory']} RAM, {info['os']}, "
             f"Python {info['python']}. Load average (1/5/15 min) is given per benchmark: the "
             "machine is shared with other work, so compare the ratios of one run, not absolutes.",
             "", "ratio > 1: ours is better (faster, or smaller where lower is better).", "",
             "| benchmark | what | unit | ours | peer | peer is | ratio | timed | process wall | load before → after |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for f in r["figures"]:
            lines.append(f"| {r['name']} | {f['metric']} | {f['unit']} | {_num(f['ours'], f['unit'])} | "
                         f"{_num(f['peer'], f['unit'])} | {f['peer_name']} | {f['ratio']:.2f}x | {f['scope']} | "
                         f"{r['wall_s']:.0f} s | {r['load_before']} → {r['load_after']} |")
    failed = [r for r in results if r["code"] != 0 or not r["figures"]]
    if failed or skipped:
        lines += ["", "## Not measured", ""]
        for r in failed:
            tail = "<br>".join(t.replace("|", "\\|")[:160] for t in r["tail"][-3:])
            lines.append(f"- **{r['name']}** (exit {r['code']}, {r['wall_s']:.0f} s): {tail}")
        for name in skipped:
            lines.append(f"- **{name}**: not run (time budget)")
    lines += ["", "Arguments: " + "; ".join(f"`{r['name']} {' '.join(r['args'])}`" for r in results), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated benchmark names")
    ap.add_argument("--full", action="store_true", help="each benchmark's default sizes")
    ap.add_argument("--budget", type=float, default=600.0, help="seconds for the whole run")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "bench.md")
    args = ap.parse_args()
    names = [n for n in QUICK if not args.only or n in args.only.split(",")]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    deadline = time.monotonic() + args.budget
    results: list[dict] = []
    skipped: list[str] = []
    for name in names:
        left = deadline - time.monotonic()
        if left < 30:
            skipped.append(name)
            continue
        results.append(run_one(name, [] if args.full else QUICK[name], min(left, TIMEOUT.get(name, 150))))
    text = render(results, machine(), skipped, started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
