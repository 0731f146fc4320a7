"""The decision in the MLflow Model Registry: the chosen candidate's version gets the alias (``champion``).

Only a candidate from an ``mlflow`` pool source has a registered version; for
any other the registry is left alone and the reason is returned.  The alias
moves: the version that held it before keeps its history as tags
(``modelpicker.champion_until``, ``modelpicker.succeeded_by``), and the new
one gets the batch it won (project, round, labels, P(best), bound, when).
When the pool's candidates come from several registered models, the alias is
taken off the other ones (one champion per pool), with the same history tags.
"""
from __future__ import annotations

from typing import Any

from .mlflow_client import Mlflow, ModelVersion
from .timefmt import iso

#: prefix of every tag we write, so a team can tell ours from theirs
TAG = "modelpicker."


def registered_version(pool: Any, name: str) -> ModelVersion | None:
    """The registered version behind pool candidate ``name`` (None when it is not an ``mlflow`` candidate)."""
    for cand in pool.candidates:
        if cand.name == name:
            return getattr(cand.source, "version", None) if getattr(cand.source, "type", "") == "mlflow" else None
    return None


def promote(registry: Mlflow, pool: Any, chosen: str, alias: str, facts: dict[str, Any], now: float) -> dict:
    """Point ``alias`` at the chosen candidate's version, tag it with ``facts``; returns what was done:
    ``{"alias", "model", "version", "previous"}`` or ``{"skipped": reason}``."""
    version = registered_version(pool, chosen)
    if version is None:
        return {"skipped": f"candidate {chosen!r} is not from the MLflow registry; no alias set"}
    stamp = iso(now)
    previous = registry.alias_holder(version.name, alias)
    moved_from = []
    if previous is not None and previous.version != version.version:
        registry.tag_version(previous.name, previous.version, {f"{TAG}{alias}_until": stamp,
                                                               f"{TAG}succeeded_by": version.uri})
        moved_from.append(previous.uri)
    for other in sorted({v.name for v in _pool_versions(pool)} - {version.name}):
        holder = registry.alias_holder(other, alias)
        if holder is not None and holder.uri in {v.uri for v in _pool_versions(pool)}:
            registry.tag_version(holder.name, holder.version, {f"{TAG}{alias}_until": stamp,
                                                               f"{TAG}succeeded_by": version.uri})
            registry.delete_alias(other, alias)
            moved_from.append(holder.uri)
    registry.set_alias(version.name, alias, version.version)
    registry.tag_version(version.name, version.version,
                         {**{f"{TAG}{k}": v for k, v in facts.items() if v is not None},
                          f"{TAG}{alias}_since": stamp if previous is None or moved_from else
                          previous.tags.get(f"{TAG}{alias}_since", stamp)})
    return {"alias": alias, "model": version.name, "version": version.version, "uri": version.uri,
            "previous": moved_from}


def _pool_versions(pool: Any) -> list[ModelVersion]:
    return [c.source.version for c in pool.candidates if getattr(c.source, "type", "") == "mlflow"]
