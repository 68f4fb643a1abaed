"""``switch_backend status`` as text: the document of live.switch.status(), one line a topic."""

from __future__ import annotations


def _on(value: bool) -> str:
    return "on" if value else "off"


def status_text(document: dict) -> str:
    state, guard = document["state"], document["guard"]
    t = state["thresholds"]
    reads = f"reads:          {state['active']}"
    if state["override"]:
        reads += f" (DATA_BACKEND_OVERRIDE={state['override']}: it wins over the state row)"
    elif state["overrideInServingWorkers"]:
        reads = (
            f"reads:          {state['overrideInServingWorkers']} (DATA_BACKEND_OVERRIDE="
            f"{state['overrideInServingWorkers']} in the serving workers wins over the state "
            f"row: {state['active']})"
        )
    reads += f"   [state version {state['version']}, from the {state['source']}]"
    lines = [
        reads,
        "maintenance:    "
        + ("ON: every write answers 503, reads go on" if state["maintenance"] else "off"),
        "canary:         "
        + (
            f"on: {state['canaryHeader']}: {state['canaryValue']} + "
            f"{state['canaryPercent']:g}% of clients"
            if state["canaryEnabled"]
            else "off"
        ),
        f"dual-write:     {_on(state['dualWrite'])}",
        "shadow reads:   "
        + (f"on, {state['shadowSample']:g}% of reads; " if state["shadowEnabled"] else "off; ")
        + f"{document['shadow']['compared']} compared, "
        f"{document['shadow']['mismatched']} mismatched",
        f"auto-rollback:  {_on(state['autoRollback'])} (error rate > {t['errorRatePercent']:g}%, "
        f"p95 > {t['p95Ms']:g} ms, mismatches > {t['mismatches']}, at least "
        f"{t['minRequests']} database reads, over {t['windowSeconds']:g} s)",
        f"database reads: {guard['requests']} in the last {guard['windowSeconds']:g} s (all "
        f"workers): {guard['errors']} failed"
        + (f", p95 <= {guard['p95Ms']:g} ms" if guard["p95Ms"] is not None else "")
        + f", {guard['mismatches']} mismatches",
    ]
    queue = document["queue"]
    lines.append(
        "pending secondary writes: "
        + ", ".join(
            f"{name} {q['queued']}" + (f" (oldest {q['oldest']})" if q.get("oldest") else "")
            for name, q in queue.items()
        )
    )
    dead = document["deadLetters"]
    lines.append(
        "dead letters:   "
        + (", ".join(f"{name} {n}" for name, n in dead.items()) + " unresolved" if dead else "none")
    )
    validation = document["latestValidation"]
    if validation is None:
        lines.append("latest validation: none")
    else:
        covers = {True: "yes", False: "NO", None: "unknown"}[validation["coversCurrentExport"]]
        lines.append(
            f"latest validation: #{validation['id']} "
            f"{'passed' if validation['passed'] else 'FAILED'} at {validation['finishedAt']}; "
            f"covers the current export: {covers}"
        )
    lines.extend(targets_text(document["targets"], document["alerts"]))
    ready = document["readyForDatabase"]
    lines.append(
        "ready to switch reads to the database: "
        + ("yes" if not ready else "no — " + "; ".join(ready))
    )
    if document["audit"]:
        lines.append("recent changes:")
        for entry in document["audit"]:
            forced = " (FORCED)" if entry["forced"] else ""
            lines.append(
                f"  {entry['at']:%Y-%m-%d %H:%M:%S} {entry['actor']}: "
                f"{entry['action']}{forced} — {entry['reason']}"
            )
    return "\n".join(lines)


def targets_text(targets: dict, alerts: list) -> list[str]:
    """The targets per store and window, then what is crossed (and alerted since when)."""
    t = targets["targets"]
    lines = [
        f"targets:        p95 < {t['p95Ms']:g} ms, error rate < {t['errorRatePercent']:g}%, "
        f"database p95 <= {t['databaseToJsonP95']:g}x JSON's (judged from {t['minRequests']} "
        "reads, all workers)"
    ]
    for store, windows in targets["stores"].items():
        cells = []
        for name, w in windows.items():
            if not w["requests"]:
                cells.append(f"{name}: no reads")
                continue
            verdict = "ok" if w["ok"] else "CROSSED"
            if not w["judged"]:
                verdict = "not judged"
            p95 = "-" if w["p95Ms"] is None else f"<= {w['p95Ms']:g} ms"
            cells.append(
                f"{name}: {w['requests']} reads, {w['errorRatePercent']:g}% failed, p95 {p95} "
                f"[{verdict}]"
            )
        lines.append(f"  {store + ':':<10} " + "; ".join(cells))
    for item in targets["crossed"]:
        lines.append(f"  CROSSED {item['name']}: {item['message']}")
    for alert in alerts:
        lines.append(f"  alert since {alert['since']:%Y-%m-%d %H:%M:%S}: {alert['name']}")
    return lines
