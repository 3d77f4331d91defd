"""The one table `make bench` prints (Markdown, so it can go into the README as is)."""

import math
from typing import Any

ORDER = ("P1", "P2", "P3", "P4", "P5", "P7", "P8")
TITLES = {"P1": "capture POST /v1/leads ÷ bare FastAPI + LeadIn",
          "P2": "speed-to-lead at 100 leads/s (POST → handed_off)",
          "P3": "sustained leads/s, all five services durable",
          "P4": "CSV import ÷ PostgreSQL COPY of the leads + one outbox row each",
          "P5": "nurture: due steps sent over SMTP into the sink",
          "P7": "page-view activities/s through capture and scoring (CPU per activity)",
          "P8": "outcomes' read-model rebuild (a report asked every 50 ms during it)"}


def _ms(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "lost"
    return f"{value:,.0f} ms"


def _cpu(result: dict[str, Any], key: str) -> str:
    value = (result.get("cpu_per_lead") or {}).get(key)
    return "-" if value is None else f"{value:.4f}"


def _p2_floor(floor: dict[str, Any], what: str = "minimal pipeline doing the same durable "
              "hops (bench/p2_floor.py)") -> str:
    """P2's floor (bench/p2_floor.py, or `what`), at 100 leads/s and at 10."""
    if "error" in floor:
        return f"; {what}: {floor['error']}"
    if "100" not in floor:
        return ""
    fast, slow = floor["100"], floor["10"]
    return (f"; {what}: "
            f"p50 {_ms(fast['p50_ms'])}, p99 {_ms(fast['p99_ms'])}, from capture's receipt of "
            f"the POST p50 {_ms(fast['inside_p50_ms'])}, p99 {_ms(fast['inside_p99_ms'])} "
            f"(at 10 leads/s: p50 {_ms(slow['p50_ms'])}, p99 {_ms(slow['p99_ms'])})")


def _p3_floor(floor: dict[str, Any], what: str = "minimal pipeline doing the same durable "
              "work (bench/p3_floor.py)") -> str:
    """P3's floor (bench/p3_floor.py, or `what`): leads/s handed off within the window, CPU
    per lead."""
    if "error" in floor:
        return f"; {what}: {floor['error']}"
    cpu = floor.get("cpu_ms_per_lead") or {}
    if cpu.get("services") is None:
        return ""
    return (f"; {what}: "
            f"{floor['leads_per_s_in_window']:,.0f} leads/s at "
            f"{cpu['services'] + cpu['infrastructure']:.1f} ms CPU per lead (its processes "
            f"{cpu['services']:.1f}, PostgreSQL + Kafka {cpu['infrastructure']:.1f})")


def _p7_floor(floor: dict[str, Any]) -> str:
    """P7's floor (bench/p7_floor.py): its rate and CPU per activity."""
    if "error" in floor:
        return f"; minimal pipeline: {floor['error']}"
    if "activities_per_s" not in floor:
        return ""
    cpu = floor["cpu_per_activity"]
    return (f"; minimal pipeline doing the same durable work (bench/p7_floor.py): "
            f"{floor['activities_per_s']:,.0f} activities/s at {cpu['services'] * 1e3:.2f} + "
            f"{cpu['infrastructure'] * 1e3:.2f} ms CPU per activity (processes + PostgreSQL "
            f"and Kafka), at most {floor['cpu_bound_activities_per_s']:,.0f}/s on all cores")


def _describe(name: str, r: dict[str, Any]) -> tuple[str, str]:
    """(what was measured side by side, the figure)."""
    if r.get("figure") is None:
        return r.get("status", "not run"), "n/a"
    if name == "P1":
        floor, behind_fastapi = r.get("floor") or {}, r.get("floor_fastapi") or {}
        return (f"{r['capture_requests_per_s']:,.0f} vs {r['bare_requests_per_s']:,.0f} req/s"
                + (f"; minimal capture doing the same durable work (bench/p1_floor.py): "
                   f"{floor['requests_per_s']:,.0f} req/s = {floor['ratio']:.2f}"
                   if "ratio" in floor else
                   f"; minimal capture: {floor['error']}" if "error" in floor else "")
                + (f", behind a one-route FastAPI app {behind_fastapi['requests_per_s']:,.0f} "
                   f"req/s = {behind_fastapi['ratio']:.2f}" if "ratio" in behind_fastapi else
                   f", behind FastAPI: {behind_fastapi['error']}" if "error" in behind_fastapi
                   else ""),
                f"{r['figure']:.2f}")
    if name == "P2":
        lost, rejected = r["leads_not_handed_off"], r["leads_rejected"]
        floor = r.get("floor") or {}
        burst = r.get("burst") or {}
        return (f"{r['leads_measured']:,} leads measured"
                + (f", {rejected} POSTs failed" if rejected else "")
                + (f", {lost} not handed off" if lost else "")
                + (f" (at {floor['rate']:g} leads/s: p50 {_ms(floor['p50_ms'])}, "
                   f"p99 {_ms(floor['p99_ms'])})" if floor else "")
                + (f"; at {burst['rate']:g} leads/s: p50 {_ms(burst['p50_ms'])}, "
                   f"p99 {_ms(burst['p99_ms'])}" if burst else "")
                + _p2_floor(r.get("floor_pipeline") or {})
                + _p2_floor(r.get("floor_stack") or {}, "the same on FastAPI, SQLAlchemy and "
                            "the event models (bench/p2_floor_stack.py)"),
                f"p50 {_ms(r['p50_ms'])}, p99 {_ms(r['p99_ms'])}")
    if name == "P3":
        undrained = "" if r["consumers_drained"] else " (lag not back to 0)"
        floor = r.get("floor") or {}
        return (f"{r['leads_handed_off']:,}/{r['leads_accepted']:,} handed off in "
                f"{r['window_s']:.0f} s load + {r['drain_s']:.0f} s drain{undrained}"
                + _p3_floor(floor)
                + _p3_floor(r.get("floor_stack") or {}, "the same on FastAPI, SQLAlchemy and "
                            "the event models (bench/p3_floor_stack.py)"),
                f"{r['figure']:,.0f} leads/s")
    if name == "P7":
        undrained = "" if r["scoring_drained"] else " (scoring's lag not back to 0)"
        return (f"{r['accepted']:,}/{r['activities']:,} in arrays of {r['array_size']:,}: "
                f"{r['send_s']:.1f} s sending ({r['post_rate']:,.0f}/s) + "
                f"{r['drain_s']:.1f} s until scored{undrained}" + _p7_floor(r.get("floor") or {}),
                f"{r['figure']:,.0f} activities/s")
    if name == "P8":
        lost = "" if r["nothing_lost"] else "; LEADS MISSING from the funnel after it"
        reports = (f"GET /v1/funnel p50 {_ms(r['report_p50_s'] * 1000)}, max "
                   f"{_ms(r['report_max_s'] * 1000)} ({r['reports']} requests)"
                   if r["reports"] else "no report answered during it")
        return (f"{r['events']:,} events replayed in {r['seconds']:.1f} s on a stack of its "
                f"own (outcomes alone), {r['live_leads']} live leads arriving; {reports}{lost}",
                f"{r['figure']:,.0f} events/s")
    if name == "P5":
        return (f"{r['messages_in_sink']:,}/{r['leads']:,} in the sink in {r['elapsed_s']:.1f} s",
                f"{r['figure']:,.0f} sends/min")
    floor = (f"; minimal script doing the same durable work (bench/p4_floor.py): "
             f"{r['floor_rows_per_s']:,.0f} rows/s = {r['floor_ratio']:.2f}"
             if "floor_ratio" in r else "")
    return (f"{r['rows']:,} rows: {r['import_rows_per_s']:,.0f} vs "
            f"{r['copy_rows_per_s']:,.0f} rows/s{floor}", f"{r['figure']:.3f}")


def render_table(results: dict[str, Any], info: dict[str, Any]) -> str:
    """A Markdown table of every benchmark that was selected, and the machine under it."""
    lines = ["| | benchmark | measured side by side | figure | target | met | "
             "CPU s/lead (services) | CPU s/lead (PostgreSQL + Kafka) |",
             "|---|---|---|---|---|---|---|---|"]
    for name in ORDER:
        if name not in results:
            continue
        r = results[name]
        measured, figure = _describe(name, r)
        met = {True: "yes", False: "**no**", None: "-"}[r.get("met")]
        lines.append(f"| {name} | {TITLES[name]} | {measured} | {figure} | "
                     f"{r.get('target', '-')} | {met} | {_cpu(r, 'services')} | "
                     f"{_cpu(r, 'infrastructure')} |")
    m = info["machine"]
    statements = results.get("P3", {}).get("statements_per_lead")
    if statements:
        lines.append("")
        lines.append("P3 SQL statements per lead (pg_stat_statements, top level, no BEGIN/COMMIT): "
                     + ", ".join(f"{k} {v:g}" for k, v in statements.items())
                     + f"; {sum(statements.values()):g} in all.")
    lines.append("")
    idle = results.get("idle", {}).get("cpu_s_per_s")
    if idle:
        services = sum(v for k, v in idle.items() if k not in ("postgres", "kafka"))
        lines.append(f"Idle stack (no load): services use {services:.2f} CPU-s/s, PostgreSQL "
                     f"{idle.get('postgres', 0):.2f}, Kafka {idle.get('kafka', 0):.2f}; "
                     "that is part of every per-lead figure.")
        lines.append("")
    lines.append(f"{m['cpu']}, {m['logical_cpus']} logical CPUs, {m['memory_gb']} GB, "
                 f"{m['os']}, Python {m['python']}; load average at start "
                 f"{m['load_average_at_start']}; {info['total_s']:.0f} s in all"
                 + (" (--quick: not quotable)" if info.get("quick") else "")
                 + (" (--profile: slowed by py-spy)" if info.get("profiled") else "") + ".")
    return "\n".join(lines)
