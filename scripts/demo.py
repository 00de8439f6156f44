"""`make demo`: run the daemon on examples/quickstart and feed it orders, so you watch batches commit.

1. starts `odibi-stream serve examples/quickstart` (file-watch trigger, pandas engine, local Delta,
   local checkpoints) and prints the status page URL;
2. lands the sample order files, then a few freshly generated ones, one by one — atomically
   (temp + rename), as a real producer should;
3. interactive: keeps serving until you press Ctrl-C (the daemon drains and exits 0);
   non-interactive (CI, pipes): stops by itself once everything landed is committed;
4. prints what landed in the Delta table and in the dead-letter table.

Re-running is safe: files already processed are never processed twice.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "examples" / "quickstart"
LANDING = PROJECT / "data" / "landing" / "orders"
CLI = str(Path(sys.executable).parent / "odibi-stream")
PACE_SECONDS = 1.0  # demo pacing between files, so a person sees separate batches


def free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return json.loads(resp.read())


def wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"demo: timed out waiting for {what}")


def land(name: str, text: str) -> None:
    LANDING.mkdir(parents=True, exist_ok=True)
    tmp = LANDING / f".{name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, LANDING / name)
    print(f"demo: landed {name}", flush=True)


def live_orders(n: int) -> str:
    rng = random.Random()
    now = datetime.now(timezone.utc)
    start = int(now.timestamp())
    rows = ["order_id,customer,amount,ordered_at"]
    for i in range(n):
        amount = round(rng.uniform(-10, 300), 2)  # a few negative ones fail the check
        when = (now - timedelta(seconds=n - i)).isoformat()
        rows.append(f"{start * 100 + i},{rng.choice(['Ada', 'Grace', 'Linus', 'Ken'])},{amount},{when}")
    return "\n".join(rows) + "\n"


def feed() -> None:
    for sample in sorted((PROJECT / "samples").glob("*.csv")):
        if not (LANDING / sample.name).exists():
            land(sample.name, sample.read_text())
            time.sleep(PACE_SECONDS)
    for _ in range(3):
        land(f"orders-live-{time.time_ns()}.csv", live_orders(25))
        time.sleep(PACE_SECONDS)


def caught_up(base: str) -> bool:
    pipes = get_json(f"{base}/api/pipelines")["pipelines"]
    return all(not any(v for lag in p.get("lag", {}).values() for v in lag.values()) for p in pipes)


def show_tables() -> None:
    from deltalake import DeltaTable

    for title, rel in (("bronze orders", "lake/bronze/orders"), ("dead letters", "lake/dead_letter/orders")):
        path = PROJECT / "data" / rel
        if not (path / "_delta_log").exists():
            print(f"\n{title}: (empty)")
            continue
        df = DeltaTable(str(path)).to_pandas()
        print(f"\n{title}: {len(df)} rows at {path.relative_to(ROOT)}")
        cols = [c for c in df.columns if c not in ("_odibi_record", "_odibi_time")]
        print(df[cols].tail(6).to_string(index=False))


def main() -> int:
    port = free_port(int(os.environ.get("DEMO_PORT", "8765")))
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([CLI, "serve", str(PROJECT), "--port", str(port)])
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    try:
        wait_until(lambda: get_json(f"{base}/readyz") is not None, 60, "the daemon to be ready")
        print(f"\ndemo: status page {base}/  ·  metrics {base}/metrics\n", flush=True)
        threading.Thread(target=feed, daemon=True).start()
        if interactive:
            print("demo: watching batches commit — press Ctrl-C to drain and stop\n", flush=True)
            proc.wait()
        else:
            time.sleep(PACE_SECONDS * 7)  # the feeder's schedule; then wait for the last commit
            wait_until(lambda: caught_up(base), 60, "the daemon to catch up")
    except KeyboardInterrupt:
        pass  # the terminal sent SIGINT to the daemon too: it drains on its own
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=90)
    print(f"\ndemo: daemon exited with {code}")
    show_tables()
    return code


if __name__ == "__main__":
    shutil.which(CLI) or sys.exit(f"demo: {CLI} not found (run `make demo`)")
    sys.exit(main())
