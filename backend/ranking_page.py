"""The ranking page, ``GET /page?project=ID``, and its chart, ``GET /page/chart.png?project=ID[&round=R]``.

Server-rendered HTML (Jinja2, autoescape on, :mod:`backend.page_template`), no
JavaScript: the decision line first, a "deploy this" summary (the chosen
candidate, its entry of the pool file, how to export it), the ranking in
:func:`backend.display_order.display_order`, what each count counts, the chart
of P(best) over labels (:mod:`backend.pbest_chart`, from the store's belief
history) and the download links.  Free of Flask: the web layer calls
:func:`page_html` and :func:`chart_for` with the service.
"""
from __future__ import annotations

from typing import Any

from .description_block import decision_line
from .display_order import RESOLVED_P_BEST, display_order
from .errors import RequestError
from .export import FILES, pool_entry
from .page_template import PAGE_TEMPLATE
from .redact import basename
from .request_args import round_arg
from .timefmt import iso

_template = None


def _compiled():
    global _template
    if _template is None:
        from jinja2 import Environment, StrictUndefined

        _template = Environment(autoescape=True, undefined=StrictUndefined).from_string(PAGE_TEMPLATE)
    return _template


def render_page(context: dict[str, Any]) -> str:
    """The page's HTML from :func:`page_context`'s dict (every value escaped)."""
    return _compiled().render(**context)


def page_html(service: Any, project: int) -> str:
    """The ranking page of a known project (404 unknown, 503 no usable pool)."""
    return render_page(page_context(service, project))


def _row(record: dict) -> dict:
    gap = record.get("gap")
    return {**record, "p_best_text": f"{record['p_best']:.3f}", "p_top_text": f"{record.get('p_top', 0.0):.3f}",
            "gap_text": "not computed" if gap is None else f"{100 * gap:.1f} pts",
            "accuracy_text": f"{record['accuracy']:.3f} ({record['accuracy_low']:.3f}-{record['accuracy_high']:.3f})"}


def _level(live: dict, settings: Any) -> float:
    """The probability the certified bounds hold with: the rule's ``1 - delta``, else the settings'."""
    delta = live.get("delta")
    return 1.0 - float(settings.delta if delta is None else delta)


def _bound_sentence(live: dict, level: float) -> str | None:
    """The certified bound of the decision's candidate, in words (None when not computed)."""
    if live.get("gap") is None:
        return None
    sentence = (f"{live['candidate']} is at most {100 * live['gap']:.1f} points worse than the best candidate "
                f"({level:.0%}).")
    if not live["stop"] and live.get("epsilon") is not None and live.get("rule") == "certified":
        sentence += f" The stop needs at most {100 * live['epsilon']:.1f} points."
    return sentence


def _source(service: Any, chosen: str) -> list[tuple[str, str]]:
    """The chosen candidate's ``source`` as written in the pool file (secrets redacted), as key-value pairs."""
    entry = pool_entry(service.require_pool().path, chosen) or {}
    source = entry.get("source")
    if not isinstance(source, dict):
        return []
    return [(str(k), str(v)) for k, v in source.items()]


def _sync_count(sync: dict, every: float | None) -> tuple[str, Any, str]:
    """The periodic sync's row: when Label Studio was last mirrored and what that caught up."""
    period = f"every {every:.0f} s" if every else "now off (MODELPICKER_SYNC_EVERY_SECONDS=0)"
    if sync["error"]:
        return ("Last check against Label Studio", f"failed at {iso(sync['at'])}",
                f"the periodic sync ({period}) could not read Label Studio: {sync['error']}")
    caught = sync["total_caught_up"]
    return ("Last check against Label Studio", iso(sync["at"]),
            f"the periodic sync ({period}) mirrors Label Studio's annotations; it has caught up {caught} "
            f"change(s) no webhook delivered" + (f", the last at {iso(sync['last_caught_up_at'])}" if caught else ""))


def _counts(answer: dict, recorded: dict | None, rounds: int, history: int, sync: dict | None = None,
            every: float | None = None) -> list[tuple[str, Any, str]]:
    """``(term, value, meaning)`` of every count the page, the description, /rankings and /rounds show."""
    used = answer["candidates"][0]["labels"] if answer["candidates"] else 0
    out = [
        ("Labels used", used, "labelled tasks of this round the ranking rests on (the description's "
                              "\"Labels used\", /rankings' labels_used, /rounds' labelled_tasks when every task "
                              "has the candidates' predictions)"),
        ("Annotations", answer["labels"], "annotations with an answer stored for this round's tasks (/rankings' "
                                          "labels): a task two annotators labelled counts twice"),
        ("Tasks ranked", answer["tasks"], "this round's tasks every candidate has a prediction for"),
        ("Tasks left out", len(answer.get("tasks_without_predictions") or []),
         "tasks a candidate cannot predict (not ranked, see /rankings' tasks_without_predictions)"),
        ("Round", f"{answer['round']} of {rounds}", "a round is one batch of tasks; a new batch imported after a "
                                                    "stop starts the next (/rounds lists them)"),
        ("Refreshes recorded", history, "points of the chart: the belief after each refresh of this round"),
    ]
    if sync is not None:
        out.append(_sync_count(sync, every))
    if recorded is not None:
        out.append((f"Decision recorded ({recorded['state']})", f"at {recorded['labels']} labels",
                    f"when the stopping rule's answer last changed ({recorded['decided_at']}); /rounds' "
                    "decisions[].labels is this count, while the labels above keep growing after it"))
    return out


def page_context(service: Any, project: int) -> dict[str, Any]:
    """Everything the page shows, as plain values (the template only lays them out)."""
    answer = service.rankings(project)          # 503 without a pool, 404 for an unknown project
    store, live = service.store, answer["decision"]
    records = display_order(answer["candidates"])
    decisions = store.decisions(project, answer["round"])
    recorded = decisions[-1] if decisions else None
    level = _level(live, service.settings)
    rows = [_row(r) for r in records]
    chosen = live["candidate"]
    history = store.belief_history(project, answer["round"])
    return {
        "project": project, "round": answer["round"], "stop": bool(live["stop"]),
        "headline": "STOP LABELLING" if live["stop"] else "Keep labelling",
        "decision_line": decision_line(live, recorded["state"] if recorded else None),
        "bound_sentence": _bound_sentence(live, level), "level_text": f"{level:.0%}",
        "up_to_date": answer.get("up_to_date", True),
        "stale_note": f"Labels arrived since this ranking (computed {answer.get('computed_at')}); the next "
                      "refresh brings the new one.",
        "chosen": chosen, "chosen_row": next((r for r in rows if r["name"] == chosen), None),
        "pool_file": basename(service.require_pool().path), "source": _source(service, chosen),
        "files": FILES, "rows": rows, "ties": any(abs(r.get("p_top", r["p_best"]) - r["p_best"]) > 5e-4
                                                  for r in records),
        "noise": any(not r["resolved"] for r in records), "resolved_p": RESOLVED_P_BEST,
        "counts": _counts(answer, None if recorded is None else {**recorded, "decided_at": iso(
            recorded["decided_at"])}, len(store.rounds(project)), len(history), store.sync_log().get(project),
            service.settings.sync_every_seconds),
        "history_rows": len(history), "chart_width": 900,
        "strategy": answer["strategy"], "model_version": answer["model_version"], "made_at": iso(service.clock()),
    }


def chart_for(service: Any, project: int, round_raw: Any = None) -> bytes:
    """The PNG chart of a round's belief history (default: the current round).

    400 for a malformed round, 404 for an unknown project or a round not started; a round without
    recorded refreshes gets a chart that says so.
    """
    from .pbest_chart import chart_png

    service.require_known(project)
    current = service.store.current_round(project)
    round_ = round_arg(round_raw) or current
    if round_ > current:
        raise RequestError(404, f"project {project} has no round {round_} (current round: {current})")
    order = None
    if round_ == current and service.pool is not None:
        order = [r["name"] for r in display_order(service.rankings(project)["candidates"])]
    rule = service.stopping_rule().get_params()
    epsilon = rule.get("epsilon") if rule.get("rule") == "certified" else None
    return chart_png(service.store.belief_history(project, round_), order=order, epsilon=epsilon,
                     title=f"Project {project}, round {round_}")
