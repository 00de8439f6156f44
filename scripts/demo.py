"""`make demo`: run the daemon on examples/quickstart and feed it orders, so you watch batches commit.

1. starts `odibi-stream serve examples/quickstart` (file-watch trigger, pandas engine, local Delta,
   local checkpoints) and prints the status page URL;
2. lands the sample order files, then a few freshly generated ones, one by one — atomically
   (temp + rename), as a real producer should;
3. interactive: keeps serving until you press Ctrl-C (the daemon drains and exits 0);
   non-interactive (CI, pipes): stops by itself once everything landed is committed;
4. prints what landed in the Delta table and in the dead-letter table.

Re-running is safe: files already processed are never processed twice. ``--workdir DIR`` (or
``$DEMO_WORKDIR``) runs on a copy of the quickstart in DIR (tests drive the demo that way, in a
pty, also through ``make demo``).

Signals: the daemon runs in its own session, and the demo makes itself the terminal's
foreground process group, so Ctrl-C reaches only this script — not the daemon, and not ``make``
(which would otherwise die of the SIGINT itself: ``make: *** [demo] Interrupt``). The script
asks the daemon to drain exactly once (SIGTERM) and ignores further Ctrl-Cs while it waits; it
exits 0 after a clean drain. Signalling the daemon a second time could land after the daemon
restored its default handlers and kill it mid-exit (the old ``daemon exited with -15``).
"""

from __future__ import annotations

import argparse
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
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart"
PROJECT = QUICKSTART
LANDING = PROJECT / "data" / "landing" / "orders"
CLI = [sys.executable, "-m", "odibi_stream.cli.main"]
PACE_SECONDS = float(os.environ.get("DEMO_PACE_SECONDS", "1.0"))  # so a person sees separate batches
DRAIN_TIMEOUT = 90.0


def free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return int(s.getsockname()[1])  # preferred, or a free one when it is 0
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


STOP_FEEDING = threading.Event()


def feed() -> None:
    """Land the samples, then a few live files, one per pace, until told to stop."""
    for sample in sorted((PROJECT / "samples").glob("*.csv")):
        if not (LANDING / sample.name).exists():
            land(sample.name, sample.read_text())
            if STOP_FEEDING.wait(PACE_SECONDS):
                return
    for _ in range(3):
        land(f"orders-live-{time.time_ns()}.csv", live_orders(25))
        if STOP_FEEDING.wait(PACE_SECONDS):
            return


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
        print(f"\n{title}: {len(df)} rows at {path}")
        cols = [c for c in df.columns if c not in ("_odibi_record", "_odibi_time")]
        print(df[cols].tail(6).to_string(index=False))


def use_workdir(workdir: Path) -> None:
    """Run on a copy of the quickstart (its code, config and samples) in ``workdir``."""
    global PROJECT, LANDING
    target = workdir / "quickstart"
    if not target.exists():
        shutil.copytree(QUICKSTART, target, ignore=shutil.ignore_patterns("data", "checkpoints", "__pycache__"))
    PROJECT, LANDING = target, target / "data" / "landing" / "orders"


def own_terminal() -> Callable[[], None]:
    """Become the terminal's foreground process group; return the function that gives it back.

    Ctrl-C then signals this process group only: the daemon (own session) and ``make`` (our
    parent, another group) never see it.
    """
    if not sys.stdin.isatty():
        return lambda: None
    fd = sys.stdin.fileno()
    try:
        previous = os.tcgetpgrp(fd)
        if os.getpgrp() != os.getpid():
            os.setpgid(0, 0)
        _set_foreground(fd, os.getpgrp())
    except OSError:
        return lambda: None
    return lambda: _set_foreground(fd, previous)


def _set_foreground(fd: int, group: int) -> None:
    # tcsetpgrp from a background group raises SIGTTOU: ignore it for the call.
    handler = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, group)
    except OSError:
        pass  # the previous group is gone (its leader exited): nothing to give back
    finally:
        signal.signal(signal.SIGTTOU, handler)


def first_ctrl_c_only(_signum: int, _frame: object) -> None:
    """The first Ctrl-C interrupts the demo; every later one is ignored (the drain is under way)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def stop(proc: subprocess.Popen[bytes]) -> int:
    """Ask the daemon to drain once and return its exit code."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=DRAIN_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"demo: the daemon did not stop within {DRAIN_TIMEOUT:.0f} s; killing it", flush=True)
        proc.kill()
        return proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description="Serve the quickstart and feed it orders.")
    parser.add_argument("--workdir", type=Path, help="run on a copy of the quickstart in this folder")
    args = parser.parse_args()
    workdir = args.workdir or (Path(os.environ["DEMO_WORKDIR"]) if os.environ.get("DEMO_WORKDIR") else None)
    if workdir is not None:
        use_workdir(workdir)
    signal.signal(signal.SIGINT, first_ctrl_c_only)
    give_back = own_terminal()
    try:
        return serve_and_feed()
    finally:
        give_back()


def serve_and_feed() -> int:
    port = free_port(int(os.environ.get("DEMO_PORT", "8765")))
    base = f"http://127.0.0.1:{port}"
    # Its own session: a terminal's Ctrl-C reaches this script only, which forwards it once.
    proc = subprocess.Popen([*CLI, "serve", str(PROJECT), "--port", str(port)], start_new_session=True)
    feeder: threading.Thread | None = None
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    try:
        wait_until(lambda: get_json(f"{base}/readyz") is not None, 60, "the daemon to be ready")
        print(f"\ndemo: status page {base}/  ·  metrics {base}/metrics\n", flush=True)
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        if interactive:
            print("demo: watching batches commit — press Ctrl-C to drain and stop\n", flush=True)
            while proc.poll() is None:
                # Not one blocking wait(): a SIGINT the kernel hands to the feeder thread would
                # not interrupt it, and its handler would run only when the daemon exits.
                time.sleep(0.2)
        else:
            time.sleep(PACE_SECONDS * 7)  # the feeder's schedule; then wait for the last commit
            wait_until(lambda: caught_up(base), 60, "the daemon to catch up")
    except KeyboardInterrupt:
        print("\ndemo: Ctrl-C — draining the daemon (in-flight batches commit first)", flush=True)
    finally:
        STOP_FEEDING.set()  # nothing lands once the daemon drains, and no thread outlives main
        code = stop(proc)
        if feeder is not None:
            feeder.join(10)
    print(f"\ndemo: daemon exited with {code}", flush=True)
    if code == 0:
        show_tables()
    return 0 if code == 0 else 1


if __name__ == "__main__":
    from odibi_stream.cli.fast_exit import finish

    # As the console script does: no interpreter teardown racing the native libraries' threads
    # (pyarrow's pool once aborted the demo at exit: "terminate called without an active exception").
    finish(main())
