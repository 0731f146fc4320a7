"""Markdown tables of identification cells (the JSON lines ``benchmarks/identification.py`` appends).

A cell: ``{"tag", "coll", "strategy", "params", "seed", "n", "ident": {budget: identification}, "l09",
["stopped", "wrong", "med", "p90" when the certified stop ran], "sec"}``.  Older files may lack ``"l09"``,
``"params"``, ``"strategy"`` or ``"sec"``: labels to 0.9 is then read off ``"ident"`` on its budgets, as the
harness computes it.  A tag that is empty or names cells of several strategies (the anchors of
``benchmarks/results/pair_draws/seed0.jsonl``) stands for each cell's strategy.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from modelpicker_core.harness import labels_to_target

REQUIRED = ("coll", "seed", "n", "ident")


class CellFileError(ValueError):
    """A file that cannot be read as identification cells, or holds none for the table asked for."""


def se(p: float, n: int) -> float:
    """Standard error of a proportion ``p`` over ``n`` realisations."""
    return math.sqrt(max(p * (1.0 - p), 0.0) / n)


def cells_of(path: str) -> list[dict]:
    """The lines of one JSON-lines file of cells, as they are (blank lines skipped)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CellFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CellFileError(f"{path}, line {number}: not JSON ({exc.msg})") from None
        missing = [k for k in REQUIRED if k not in r] if isinstance(r, dict) else list(REQUIRED)
        if missing or not isinstance(r["ident"], dict):
            raise CellFileError(f"{path}, line {number}: not an identification cell (no "
                                f"{', '.join(missing) or 'ident object'})")
        rows.append(r)
    return rows


def read(paths: list[str]) -> list[dict]:
    """Every cell of ``paths``, ``"tag"`` made a variant name (see the module docstring); a later line replaces
    an earlier one of the same (coll, seed, tag, n, budgets)."""
    rows = [r for path in paths for r in cells_of(path)]
    strategies: dict[str, set] = {}
    for r in rows:
        strategies.setdefault(r.get("tag") or "", set()).add(r.get("strategy"))
    cells: dict[tuple, dict] = {}
    for r in rows:
        tag = r.get("tag") or ""
        if not tag or len(strategies[tag] - {None}) > 1:
            tag = r.get("strategy") or tag
        r = {**r, "tag": tag}
        cells[(r["coll"], r["seed"], tag, r["n"], tuple(r["ident"]))] = r
    return list(cells.values())


def l09(r: dict) -> int | None:
    """The cell's labels to 0.9 (from its budgets when the line does not hold it)."""
    if "l09" in r:
        return r["l09"]
    return labels_to_target([int(b) for b in r["ident"]], list(r["ident"].values()))


def _diff(p: tuple[float, int], base: tuple[float, int] | None) -> str:
    if base is None:
        return ""
    return f" ({(p[0] - base[0]) / (math.hypot(se(*p), se(*base)) or 1.0):+.1f})"


def table(paths: list[str], budget: str = "5") -> str:
    """Markdown: identification at ``budget`` per collection and seed (the cell of most realisations), each tag's
    mean ± SE, then (in brackets) its difference to random and to the default in SEs of the difference."""
    rows: dict[tuple[str, int], dict[str, tuple[float, int]]] = {}
    tags: list[str] = []
    for r in read(paths):
        cells = rows.setdefault((r["coll"], r["seed"]), {})
        if budget in r["ident"] and r["n"] >= cells.get(r["tag"], (0.0, 0))[1]:   # the most realisations
            cells[r["tag"]] = (r["ident"][budget], r["n"])
            tags += [] if r["tag"] in tags else [r["tag"]]
    if not tags:
        raise CellFileError(f"no cell at {budget} labels in {', '.join(paths)}")
    tags.sort(key=lambda t: (t != "random", t != "default", t))
    out = ["| collection | seed | " + " | ".join(tags) + " |", "| --- | --- |" + " --- |" * len(tags)]
    for (coll, seed), cells in sorted(rows.items()):
        parts = []
        for tag in tags:
            p = cells.get(tag)
            text = "" if p is None else f"{p[0]:.3f} ± {se(*p):.3f}"
            if p is not None and tag not in ("random", "default"):
                text += _diff(p, cells.get("random")) + (_diff(p, cells.get("default"))[:-1] + " vs default)"
                                                         if "default" in cells else "")
            elif p is not None and tag == "default":
                text += _diff(p, cells.get("random"))
            parts.append(text)
        out.append(f"| {coll} | {seed} | " + " | ".join(parts) + " |")
    return "\n".join(out)


def curves(paths: list[str]) -> str:
    """Markdown: per collection and tag, identification at each budget as the mean over seeds (the worst seed
    in brackets), the largest SE of one seed's proportion, and labels to 0.9 per seed and of the mean curve."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in read(paths):
        if len(r["ident"]) > 1:
            groups.setdefault((r["coll"], r["tag"]), []).append(r)
    if not groups:
        raise CellFileError(f"no cell with more than one budget in {', '.join(paths)}")
    header = " / ".join(next(iter(groups.values()))[0]["ident"])
    out = [f"| collection | variant | seeds (n) | identification at {header} labels: mean (worst seed) | max SE "
           "| labels to 0.9 per seed; of the mean |", "| --- " * 6 + "|"]
    for (coll, tag), cells in sorted(groups.items()):
        cells.sort(key=lambda r: r["seed"])
        budgets = list(cells[0]["ident"])
        means = [sum(r["ident"][b] for r in cells) / len(cells) for b in budgets]
        worst = [min(r["ident"][b] for r in cells) for b in budgets]
        top_se = max(se(r["ident"][b], r["n"]) for r in cells for b in budgets)
        per_seed = ", ".join(str(l09(r) or ">" + budgets[-1]) for r in cells)
        mean_l09 = labels_to_target([int(b) for b in budgets], means) or ">" + budgets[-1]
        curve = " / ".join(f"{m:.2f} ({w:.2f})" if len(cells) > 1 else f"{m:.2f}" for m, w in zip(means, worst))
        seeds = ",".join(str(r["seed"]) for r in cells) + f" ({cells[0]['n']})"
        out.append(f"| {coll} | {tag} | {seeds} | {curve} | {top_se:.2f} | {per_seed}; {mean_l09} |")
    return "\n".join(out)


def stops(paths: list[str]) -> str:
    """Markdown: the certified stops (epsilon 0.01) of every cell that ran them."""
    ran = sorted((r for r in read(paths) if "med" in r), key=lambda r: (r["coll"], r["seed"], r["tag"]))
    if not ran:
        raise CellFileError(f"no cell ran the certified stop in {', '.join(paths)}")
    out = ["| collection | seed | variant | n | median / p90 labels | stopped / wrong | labels to 0.9 |",
           "| --- " * 7 + "|"]
    for r in ran:
        out.append(f"| {r['coll']} | {r['seed']} | {r['tag']} | {r['n']} | {r['med']} / {r['p90']} | "
                   f"{r['stopped']} / {r['wrong']} | {l09(r)} |")
    return "\n".join(out)
