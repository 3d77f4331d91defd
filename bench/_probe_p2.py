"""Scratch probe (not committed): CPU and transactions per lead at a fixed rate."""
import asyncio, sys, tempfile, time, json
from pathlib import Path
from bench.harness import Bench, Durations, stack_settings
from bench import p2_speed_to_lead as p2
from leadloop_devstack.stack import Stack
from bench.profiling import Profiler
import os
PROFILE=os.environ.get('PROFILE')

RATE = float(sys.argv[1]) if len(sys.argv) > 1 else 100.0
SECS = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0

async def xacts(bench):
    out = {}
    for s in ("capture", "scoring", "handoff", "nurture", "outcomes"):
        conn = await bench.database(s)
        out[s] = await conn.fetchval("select xact_commit from pg_stat_database where datname = current_database()")
    return out

async def main():
    home = Path(tempfile.mkdtemp(prefix="leadloop-probe-"))
    import dataclasses
    st=stack_settings(home)
    if os.environ.get('PARTS'): st=st.model_copy(update={'topic_partitions': int(os.environ['PARTS'])})
    stack = Stack(st); bench = Bench(stack=stack, durations=Durations(), workdir=home)
    try:
        await stack.start(); await bench.open()
        await bench.ensure_rep_capacity(1)
        await p2._offer_and_wait(bench, 10.0, 3.0); await bench.wait_drained(60)
        x0 = await xacts(bench); before = bench.meter.snapshot(); await bench.reset_statement_counts()
        prof=None
        if PROFILE:
            pids={n: s.process.pid for n, s in bench.stack.services.items() if s.process is not None}
            prof=Profiler(Path(PROFILE), 'p2', pids); Path(PROFILE).mkdir(parents=True, exist_ok=True); await prof.start()
        t0 = time.monotonic()
        entries = await p2._offer_and_wait(bench, RATE, SECS)
        await bench.wait_drained(120)
        if prof: print(await prof.stop())
        wall = time.monotonic() - t0
        usage = bench.usage(before); x1 = await xacts(bench); stm = await bench.statement_counts()
        n = len([e for e in entries if e.get("lead_id")])
        lat = p2._latencies(bench, entries)
        print(json.dumps({"rate": RATE, "leads": n, "wall_s": round(wall,1),
              "p50_ms": round(p2.percentile(lat, 50)), "p99_ms": round(p2.percentile(lat, 99)),
              "cpu_ms_per_lead": {k: round(v*1000/n, 2) for k, v in usage.by_process.items()},
              "xacts_per_lead": {k: round((x1[k]-x0[k])/n, 2) for k in x1},
              "statements_per_lead": {k: round(v/n, 2) for k, v in stm.items()}}, indent=1))
        # TOPSQL
        conn = await bench.database("capture")
        rows = await conn.fetch("SELECT d.datname, s.calls, round(s.total_exec_time::numeric,1) t, round((s.total_exec_time/greatest(s.calls,1))::numeric,3) per, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 110) q FROM pg_stat_statements s JOIN pg_database d ON d.oid=s.dbid ORDER BY s.total_exec_time DESC LIMIT 25")
        for r in rows: print(r['datname'][:12], r['calls'], r['t'], r['per'], r['q'])
    finally:
        pass
        await bench.close(); await stack.stop()

asyncio.run(main())
