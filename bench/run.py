"""`make bench`: start a private local stack, run P1-P7 side by side, then P8 (outcomes' read-model
rebuild) on a stack of its own, print one table, and write the figures as JSON to
bench/results/.

    python -m bench.run [--quick] [--only P2,P3] [--keep]

Order: P2 and P3 need all five services, P5 (nurture's send rate) needs nurture; P6 (scoring's
backtest) uses only the stack's PostgreSQL, in a database of its own; P1 and P4 then stop the
four consumers and measure capture alone (see each module's docstring for what is measured).
P8 needs outcomes alone (the other consumers would act on the history it produces), so it runs
last, on PostgreSQL, Kafka and outcomes of its own.
"""

import argparse
import asyncio
import json
import math
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import (
    nurture_send_rate,
    outcomes_rebuild,
    p1_capture_http,
    p2_speed_to_lead,
    p3_sustained,
    p4_import,
    p7_activities,
    scoring_backtest,
)
from bench.harness import REPO_ROOT, Bench, Durations, stack_settings
from bench.profiling import Profiler
from bench.report import render_table
from bench.wrk import WrkMissing, require_wrk
from leadloop_devstack.stack import Stack

RESULTS = REPO_ROOT / "bench" / "results"
IDLE_S = 5.0  # how long the idle stack's own CPU use is measured
# P2/P3 first (they need the whole pipeline), P5 (nurture), P6 (scoring's backtest), then P1/P4
# (capture alone).
BENCHMARKS = {"P2": p2_speed_to_lead.run, "P3": p3_sustained.run, "P7": p7_activities.run,
              "P5": nurture_send_rate.run,
              "P6": scoring_backtest.run, "P1": p1_capture_http.run, "P4": p4_import.run}
NEEDS_WRK = ("P1", "P3")
OWN_STACK = ("P8",)  # run after the shared stack has stopped


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = next((line.split(":", 1)[1].strip()
                  for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpu": model, "logical_cpus": psutil.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "os": platform.platform(), "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in psutil.getloadavg()]}


def revision() -> dict[str, Any]:
    """The commit measured, and whether the working tree had changes (read-only git)."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""
    return {"commit": git("rev-parse", "HEAD") or None,
            "uncommitted_changes": bool(git("status", "--porcelain"))}


def _finite(value: Any) -> Any:
    """JSON without Infinity: lost leads' latency becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


async def _profiled(bench: Bench, name: str, outdir: Path) -> dict[str, Any]:
    pids = {service: svc.process.pid for service, svc in bench.stack.services.items()
            if service in bench.running() and svc.process is not None}
    profiler = Profiler(outdir, name, pids)
    await profiler.start()
    try:
        return await BENCHMARKS[name](bench)
    finally:
        for path in await profiler.stop():
            print(f"  profile: {path.relative_to(REPO_ROOT)}", flush=True)


# Hand-offs get an hour to be accepted on the benchmarks' stack. With the default five minutes the
# SLA reminders of P2's ~8,000 leads fire 150 s after their hand-off, one transaction each, in the
# middle of whichever benchmark runs then: P7 measured 742 activities/s under them (2,567 alone).
# A benchmark measures its own load, not another's timers (the soak keeps the default).
SERVICE_ENV = {"LEADLOOP_HANDOFF_ACCEPT_SLA_S": "3600"}


async def run_all(selected: list[str], durations: Durations, home: Path,
                  profile_dir: Path | None = None) -> dict[str, Any]:
    """Start the stack, run the selected benchmarks in order, stop the stack."""
    results: dict[str, Any] = {}
    stack = Stack(stack_settings(home), service_env=SERVICE_ENV)
    bench = Bench(stack=stack, durations=durations, workdir=home)
    try:
        started = time.monotonic()
        await stack.start()
        print(f"stack ready in {time.monotonic() - started:.1f} s ({home})", flush=True)
        await bench.open()
        before = bench.meter.snapshot()
        await asyncio.sleep(IDLE_S)
        idle = bench.usage(before)
        results["idle"] = {"cpu_s_per_s": {k: round(v / IDLE_S, 4)
                                           for k, v in idle.by_process.items()}}
        for name in selected:
            print(f"{name} ...", flush=True)
            began = time.monotonic()
            try:
                if name in NEEDS_WRK:
                    require_wrk()
                if profile_dir is None:
                    results[name] = await BENCHMARKS[name](bench)
                else:
                    results[name] = await _profiled(bench, name, profile_dir)
            except WrkMissing as exc:
                results[name] = {"figure": None, "status": f"n/a: {exc}"}
            except Exception as exc:  # one broken benchmark must not hide the others
                traceback.print_exc()
                results[name] = {"figure": None, "status": f"error: {exc!r}"}
            results[name]["wall_s"] = round(time.monotonic() - began, 1)
            print(f"{name} done in {results[name]['wall_s']} s", flush=True)
    finally:
        try:
            await bench.close()
        finally:
            await stack.stop()  # whatever happened above: no process outlives the run
    return results


def run_own_stack(name: str, durations: Durations) -> dict[str, Any]:
    """A benchmark that starts a stack of its own (see OWN_STACK), timed and guarded as
    run_all guards the others."""
    print(f"{name} ...", flush=True)
    began = time.monotonic()
    try:
        result = asyncio.run(outcomes_rebuild.run(durations.p8_leads))
    except Exception as exc:  # one broken benchmark must not hide the others
        traceback.print_exc()
        result = {"figure": None, "status": f"error: {exc!r}"}
    result["wall_s"] = round(time.monotonic() - began, 1)
    print(f"{name} done in {result['wall_s']} s", flush=True)
    return result


def main() -> int:
    """Run, print the table, write the JSON; non-zero exit only when a benchmark errored."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="seconds-long runs to check the harness; figures are not quotable")
    parser.add_argument("--only", default="P1,P2,P3,P4,P5,P7,P8",
                        help="comma-separated, e.g. P1,P4")
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (logs)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy every service during each benchmark (slows them down)")
    args = parser.parse_args()
    wanted = {n.strip().upper() for n in args.only.split(",")}
    selected = [n for n in BENCHMARKS if n in wanted]
    durations = Durations.quick() if args.quick else Durations()
    home = Path(tempfile.mkdtemp(prefix="leadloop-bench-"))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    profile_dir = RESULTS / f"profile-{stamp}" if args.profile else None
    info = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(), "revision": revision(), "quick": args.quick,
            "profiled": args.profile, "durations": vars(durations)}
    began = time.monotonic()
    try:
        results = asyncio.run(run_all(selected, durations, home, profile_dir))
        for name in OWN_STACK:
            if name in wanted:
                results[name] = run_own_stack(name, durations)
    finally:
        if args.keep:
            print(f"stack folder kept: {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    info["total_s"] = round(time.monotonic() - began, 1)
    print()
    print(render_table(results, info))
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = ("-quick" if args.quick else "") + ("-profiled" if args.profile else "")
    path = RESULTS / f"bench-{stamp}{suffix}.json"
    path.write_text(json.dumps(_finite({**info, "results": results}), indent=2) + "\n")
    print(f"\nJSON: {path.relative_to(REPO_ROOT)}")
    return 1 if any(str(r.get("status", "")).startswith("error") for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
