"""`make soak`: twice the sustained rate for ten minutes; memory must stay bounded and lag recover.

    python -m bench.soak [--minutes 10] [--factor 2] [--quick]

1. Start a private stack and measure the sustained rate R with P3 (all five services durable).
2. Offer factor x R leads/s for the given minutes with the open-loop load generator in its own
   process (bench/loadgen.py): the pipeline cannot keep up, so lag grows on purpose.
3. Stop offering and wait for every accepted lead to be handed off and every consumer to catch
   up.

Every 10 s it samples the memory (PSS) of each process (services, Kafka, PostgreSQL with its
backends), consumer lag and outbox backlog. Verdicts: memory is bounded when no service's
memory in the last third of the load exceeds its peak over the first two thirds by more
than 10% (growth that keeps climbing with the backlog is a leak); lag recovers when it returns to
under RECOVERED_LAG (below a second of work: timers keep a trickle of events flowing) and every
lead capture acknowledged was handed off. Writes bench/results/soak-*.json.
"""

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import p3_sustained
from bench.harness import Bench, Durations, stack_settings, wait_until
from bench.run import RESULTS, machine, revision
from leadloop_devstack.stack import Stack

SAMPLE_EVERY_S = 10.0
# Recovered means back to the idle stack's own trickle: nurture's timed steps and handoff's SLA
# timers keep producing events after the load, and offsets are committed once a second, so the
# lag seen at any instant is a few dozen events, not 0. Under a second's work counts as caught up.
RECOVERED_LAG = 100
GROWTH_ALLOWED = 1.10  # last third of the load vs. peak of the first two thirds


def _pss_mb(process: psutil.Process) -> float:
    """Proportional set size of a process and its children, in MB. PSS, not RSS: PostgreSQL's
    backends all map the same shared buffers, and summing their RSS would count them each time."""
    total = process.memory_full_info().pss
    for child in process.children(recursive=True):
        try:
            total += child.memory_full_info().pss
        except psutil.NoSuchProcess:
            continue
    return round(total / 2**20, 1)


async def _sample(bench: Bench, started: float, phase: str) -> dict[str, Any]:
    processes = {**bench.meter.services, **bench.meter.infrastructure}
    memory = {}
    for name, process in processes.items():
        try:
            memory[name] = _pss_mb(process)
        except psutil.NoSuchProcess:
            memory[name] = None
    state = await bench.pipeline_state()
    return {"t_s": round(time.monotonic() - started, 1), "phase": phase, "pss_mb": memory,
            "lag": state["lag"], "outbox": state["outbox"],
            "handed_off": len(bench.reader.received)}


def memory_verdicts(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per process: peak in the first two thirds of the load, peak in the last third, bounded."""
    load = [s for s in samples if s["phase"] == "load"]
    cut = max(1, len(load) * 2 // 3)
    early, late = load[:cut], load[cut:] or load[-1:]
    verdicts = {}
    for name in load[0]["pss_mb"] if load else ():
        early_peak = max(s["pss_mb"][name] or 0 for s in early)
        late_peak = max(s["pss_mb"][name] or 0 for s in late)
        verdicts[name] = {"start_mb": load[0]["pss_mb"][name], "early_peak_mb": early_peak,
                          "late_peak_mb": late_peak,
                          "end_mb": samples[-1]["pss_mb"][name],
                          "bounded": late_peak <= early_peak * GROWTH_ALLOWED}
    return verdicts


async def _offer(bench: Bench, rate: float, seconds: float,
                 out: Path) -> asyncio.subprocess.Process:
    """The load generator, as its own process (it shares no CPU time with this one)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", bench.url("capture", "/v1/leads"),
        bench.stack.admin_key, "--rate", f"{rate:.1f}", "--seconds", str(seconds),
        "--out", str(out), "--stop-at-end", stdout=asyncio.subprocess.DEVNULL)


async def soak(home: Path, minutes: float, factor: float, quick: bool) -> dict[str, Any]:
    """Run the three phases and return every figure."""
    stack = Stack(stack_settings(home))
    durations = Durations.quick() if quick else Durations()
    bench = Bench(stack=stack, durations=durations, workdir=home)
    try:
        await stack.start()
        await bench.open()
        print("measuring the sustained rate (P3) ...", flush=True)
        sustained = await p3_sustained.run(bench)
        rate = max(1.0, sustained["leads_per_s"] * factor)
        seconds = minutes * 60
        await bench.ensure_rep_capacity(round(rate * seconds) + 1000)
        print(f"sustained {sustained['leads_per_s']:.0f} leads/s; offering {rate:.0f} leads/s "
              f"for {seconds:.0f} s ...", flush=True)
        sent_file = home / "soak-sent.json"
        started = time.monotonic()
        samples = [await _sample(bench, started, "load")]
        loadgen = await _offer(bench, rate, seconds, sent_file)
        while loadgen.returncode is None:
            try:
                await asyncio.wait_for(loadgen.wait(), SAMPLE_EVERY_S)
            except TimeoutError:
                samples.append(await _sample(bench, started, "load"))
                print(f"  {samples[-1]['t_s']:>6.0f} s  handed off {samples[-1]['handed_off']}  "
                      f"lag {samples[-1]['lag']}  pss "
                      f"{samples[-1]['pss_mb']}", flush=True)
        load_end = time.monotonic()
        sent = json.loads(sent_file.read_text())
        accepted = {str(e["lead_id"]) for e in sent if e.get("lead_id")}
        # What capture really took: the generator falls behind when capture answers slower.
        acknowledged_per_s = len(accepted) / max(1e-9, load_end - started)
        print(f"load done: {len(accepted)} of {len(sent)} leads acknowledged; draining ...",
              flush=True)

        async def recovered() -> bool:
            samples.append(await _sample(bench, started, "recovery"))
            caught_up = all(lag < RECOVERED_LAG for lag in samples[-1]["lag"].values())
            return caught_up and accepted <= bench.reader.received.keys()
        # Drain time is bounded by the backlog: give it twice the load's length, at least 5 min.
        did_recover = await wait_until(recovered, max(300.0, 2 * seconds), SAMPLE_EVERY_S)
        recovery_s = time.monotonic() - load_end
        lost = accepted - bench.reader.received.keys()
        verdicts = memory_verdicts(samples)
        return {
            "sustained_leads_per_s": sustained["leads_per_s"], "offered_leads_per_s": rate,
            "load_s": seconds, "leads_sent": len(sent),
            "leads_scheduled": round(rate * seconds), "leads_acknowledged": len(accepted),
            "acknowledged_leads_per_s": acknowledged_per_s,
            "load_wall_s": round(load_end - started, 1),
            "http_failures": sum(1 for e in sent if not e.get("lead_id")),
            "not_handed_off": len(lost), "lag_recovered": did_recover,
            "recovery_s": round(recovery_s, 1),
            "max_lag": {g: max(s["lag"].get(g, 0) for s in samples) for g in samples[0]["lag"]},
            "memory": verdicts,
            "memory_bounded": all(v["bounded"] for v in verdicts.values()),
            "samples": samples,
        }
    finally:
        try:
            await bench.close()
        finally:
            await stack.stop()


def render(result: dict[str, Any]) -> str:
    """The soak's figures as a short Markdown report."""
    lines = [
        f"Sustained rate (P3): {result['sustained_leads_per_s']:.0f} leads/s; offered "
        f"{result['offered_leads_per_s']:.0f} leads/s for {result['load_s']:.0f} s: "
        f"{result['leads_acknowledged']:,} of {result['leads_sent']:,} leads sent acknowledged in "
        f"{result['load_wall_s']:.0f} s ({result['acknowledged_leads_per_s']:.0f} leads/s), "
        f"{result['not_handed_off']} not handed off.",
        f"Lag {'recovered' if result['lag_recovered'] else 'did NOT recover'} "
        f"(every consumer under {RECOVERED_LAG} events) "
        f"{result['recovery_s']:.0f} s after the load stopped; peak lag "
        + ", ".join(f"{g} {n:,}" for g, n in result["max_lag"].items()) + ".",
        "",
        "| process | memory (PSS) at start | peak, first 2/3 of load | peak, last 1/3 "
        "| after drain | bounded |",
        "|---|---|---|---|---|---|",
    ]
    for name, v in result["memory"].items():
        lines.append(f"| {name} | {v['start_mb']:.0f} MB | {v['early_peak_mb']:.0f} MB | "
                     f"{v['late_peak_mb']:.0f} MB | {v['end_mb'] or 0:.0f} MB | "
                     f"{'yes' if v['bounded'] else '**no**'} |")
    return "\n".join(lines)


def main() -> int:
    """Parse arguments, soak, print and save; non-zero when memory grew or lag stayed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--factor", type=float, default=2.0, help="times the sustained rate")
    parser.add_argument("--quick", action="store_true",
                        help="short P3 and a short soak, to check the harness")
    args = parser.parse_args()
    minutes = 1.0 if args.quick else args.minutes
    home = Path(tempfile.mkdtemp(prefix="leadloop-soak-"))
    info = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(), "revision": revision(), "minutes": minutes,
            "factor": args.factor}
    try:
        result = asyncio.run(soak(home, minutes, args.factor, args.quick))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print()
    print(render(result))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"soak-{stamp}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps({**info, "result": result}, indent=2) + "\n")
    print(f"\nJSON: {path}")
    ok = result["memory_bounded"] and result["lag_recovered"] and not result["not_handed_off"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
