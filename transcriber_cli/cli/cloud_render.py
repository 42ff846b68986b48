"""Render infra/fleet results: Rich tables for people, the versioned JSON envelope with --json."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

out = Console(highlight=False, soft_wrap=True)

_STYLE = {"create": "green", "update": "yellow", "delete": "red", "keep": "cyan", "none": "dim"}


def emit_json(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def render_actions(data: dict[str, Any]) -> None:
    header = f"stack {data['stack']} · {data['region']}"
    if data.get("dry_run"):
        header += " · dry run: nothing was changed"
    out.print(f"[bold]{header}[/]")
    table = Table(show_header=True, header_style="bold", box=None)
    for col in ("action", "resource", "name", "changes"):
        table.add_column(col, overflow="fold")
    for a in data["actions"]:
        style = _STYLE.get(a["action"], "")
        detail = ", ".join(a["changes"]) if a["action"] == "update" else a.get("note", "")
        table.add_row(f"[{style}]{a['action']}[/]", a["resource"], a["name"], detail)
    if data["actions"]:
        out.print(table)
    if not data.get("changed"):
        out.print("no changes")
    if data.get("release"):
        wheel = data["release"]["wheel"]
        out.print(f"[bold]worker release[/] {data['release']['version']}: {wheel['name']} "
                  f"(sha256 {wheel['sha256'][:12]}…)")  # fmt: skip
    if "models" in data:
        models = data["models"]
        out.print(f"[bold]models[/] {'from ' + models['manifest'] if models else 'none pushed'}")
    if data.get("refresh"):
        r = data["refresh"]
        reason = f": {r['reason']}" if r.get("reason") else ""
        out.print(f"[bold]instance refresh[/] {r['status']}{reason}")
    if data.get("summary"):
        render_summary(data["summary"])


def show(
    data: dict[str, Any],
    json_output: bool,
    render: Callable[[dict[str, Any]], None] = render_actions,
) -> None:
    """The JSON envelope with --json, else ``render``'s tables for people."""
    if json_output:
        emit_json(data)
    else:
        render(data)


def render_summary(s: dict[str, Any]) -> None:
    out.print()
    out.print(f"[bold]bucket[/] {s['bucket']}  [bold]queue[/] {s['queue']}")
    fleet = s.get("fleet")
    out.print(
        f"[bold]fleet[/] {fleet['desired']} GPU(s) wanted of max {fleet['max']}"
        if fleet
        else "[bold]fleet[/] none (transcriber fleet up)"
    )
    idle = s["idle_cost"]
    out.print(f"[bold]idle cost[/] ~${idle['compute_usd_per_hour']:.2f}/h compute; {idle['note']}")
    table = Table(title="cost per GPU hour", box=None, header_style="bold")
    for col in ("type", "GPUs", "on-demand $/h", "spot est. $/h", "spot est. $/GPU h"):
        table.add_column(col)
    for p in s["gpu_hour"]:
        od, spot = p["on_demand_usd_per_hour"], p["spot_estimate_usd_per_hour"]
        per_gpu = p.get("spot_estimate_usd_per_gpu_hour")
        table.add_row(
            p["instance_type"], str(p.get("gpus", "?")), f"{od:.3f}" if od else "?",
            f"{spot:.3f}" if spot else "?", f"{per_gpu:.3f}" if per_gpu else "?",
        )  # fmt: skip
    out.print(table)
    if s["gpu_hour"]:
        out.print(f"[dim]{s['gpu_hour'][0]['basis']}[/]")


def render_infra_status(data: dict[str, Any]) -> None:
    out.print(f"[bold]stack {data['stack']} · {data['region']} · account {data['account']}[/]")
    table = Table(box=None, header_style="bold")
    for col in ("resource", "name", "state", "settings"):
        table.add_column(col, overflow="fold")
    for r in data["resources"]:
        state = "[green]ok[/]" if r["exists"] else "[red]missing[/]"
        if r["settings"].get("drift"):
            state = "[yellow]drift[/]"
        table.add_row(r["resource"], r["name"], state, _brief(r["settings"]))
    out.print(table)
    names = ", ".join(p["parameter"] for p in data["secrets"]) or "none set"
    out.print(f"[bold]secrets[/] {names}")


def _brief(settings: dict[str, Any]) -> str:
    keep = ("retention_days", "emails", "ingress", "enabled", "drift", "Threshold", "url")
    parts = [f"{k}={settings[k]}" for k in keep if k in settings and settings[k] not in (None, [])]
    return "; ".join(parts)


def render_fleet_status(data: dict[str, Any]) -> None:
    out.print(f"[bold]stack {data['stack']} · {data['region']}[/]")
    g = data["group"]
    if g is None:
        out.print("fleet: none (transcriber fleet up)")
    else:
        weights = g.get("gpus_per_instance") or {}
        types = ", ".join(f"{t} ({weights.get(t, '?')} GPUs)" for t in g["instance_types"])
        out.print(
            f"group {g['name']}: desired {g['desired']} GPU(s) (min {g['min']}, max {g['max']}); "
            f"{g.get('gpus_in_service', 0)} GPU(s) in service; types {types}; "
            f"on-demand {g['on_demand_percent']}%"
        )
        table = Table(box=None, header_style="bold")
        keys = ("id", "type", "gpus", "az", "lifecycle", "state")
        for col in ("instance", "type", "GPUs", "az", "lifecycle", "state"):
            table.add_column(col)
        for i in data["instances"]:
            table.add_row(*(str(i.get(k) or "?") for k in keys))
        if data["instances"]:
            out.print(table)
    for label in ("queue", "dlq"):
        q = data[label]
        out.print(
            f"{label}: {q['visible']} waiting, {q['in_flight']} in flight"
            if q
            else f"{label}: missing"
        )
    if data["workers"] is None:
        out.print(f"heartbeats: {data['heartbeats_note']}")
    else:
        workers = data["workers"]
        busy = sum(w.get("gpus_busy", 0) for w in workers)
        total = sum(len(w.get("gpus") or {}) for w in workers)
        out.print(f"heartbeats: {len(workers)} worker(s); GPUs busy {busy}/{total}")
        for w in workers:
            draining = " draining (rebalance)" if w.get("draining") else ""
            gpus = w.get("gpus") or {}  # none from a worker older than --gpus
            devices = " ".join(f"{d}={','.join(j) or '-'}" for d, j in gpus.items())
            usage = f"GPUs busy {w.get('gpus_busy', 0)}/{len(gpus)} ({devices}) " if gpus else ""
            out.print(
                f"  {w['worker']} {w['instance_type']} jobs={w['jobs']}{draining} {usage}"
                f"last seen {w['last_seen']}",
                markup=False,
            )
            if w.get("problem"):
                out.print(f"    cannot work: {w['problem']}", markup=False)
    for boot in data.get("boots") or []:
        out.print(boot_line(boot), markup=False)
    last = data.get("last_hour")
    if last is None:
        out.print(f"last hour: {data.get('last_hour_note') or 'unavailable'}")
    else:
        out.print(last_hour_line(last))
        for e in last["top_errors"]:
            out.print(f"  {e['count']}× {e['error']}", markup=False)
    day = data.get("last_day")
    if day is not None:
        out.print(spend_line(day), markup=False)


def _audio(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def last_hour_line(stats: dict[str, Any]) -> str:
    """``last hour: 12 done (40.1 min of audio), 1 failed, 0 cancelled`` from
    ``store.stats.Throughput.as_dict()``."""
    return (
        f"last hour: {stats['completed']} done ({_audio(stats['audio_seconds'])} of audio), "
        f"{stats['failed']} failed, {stats['cancelled']} cancelled"
    )


def spend_line(stats: dict[str, Any]) -> str:
    """``last 24 h: $1.23 on jobs (2.5 GPU h, 14 done, 1 failed)``: every attempt's worker
    time at its machine's rate (idle machines are not in it)."""
    jobs = stats["completed"] + stats["failed"] + stats["cancelled"]
    return (
        f"last 24 h: ${stats['usd']:.2f} on {jobs} job(s) ({stats['gpu_seconds'] / 3600:.1f} "
        f"GPU h; {stats['completed']} done, {stats['failed']} failed)"
    )


def boot_line(boot: dict) -> str:
    """``boot i-0abc: installing (2 min)``, ``boot failed on i-0abc at release: <why>``."""
    took = sum(step["seconds"] for step in boot["steps"])
    done = ", ".join(f"{s['name']} {s['seconds']:.0f} s" for s in boot["steps"])
    if boot["status"] == "failed":
        return f"boot failed on {boot['instance_id']} at {boot['step']}: {boot['error']}"
    if boot["status"] == "running":
        return f"boot {boot['instance_id']}: worker running after {took:.0f} s ({done})"
    if boot["status"] == "installed":
        return f"boot {boot['instance_id']}: installed in {took:.0f} s ({done})"
    step = boot["step"] or "starting"
    return f"boot {boot['instance_id']}: {step} (done: {done or 'nothing yet'})"
