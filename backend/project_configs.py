"""Each project's label config and the Choices the pool answers in: parsed and checked once per config text.

A config is parsed (:mod:`backend.labelconfig`) and the pool checked against it
outside every lock, so a huge config delays only its own request; the result is
kept in a bounded cache keyed by the config's digest.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from .errors import RequestError
from .labelconfig import ChoicesControl, LabelConfigError, parse_choices
from .lru import BoundedCache, digest
from .pool import Pool, PoolError
from .store import Store

logger = logging.getLogger(__name__)

#: parsed label configs kept at most (entries, and total bytes of the configs they came from)
CONFIG_CACHE_ENTRIES, CONFIG_CACHE_BYTES = 64, 32 * 1024 * 1024


class ProjectConfigs:
    """The stored label config of every project, and why the pool does not fit it (``errors``).

    Parameters
    ----------
    store : per-project state (the label configs live there).
    require_pool : returns the loaded pool, or raises the 503 that says why there is none.
    """

    def __init__(self, store: Store, require_pool: Callable[[], Pool]):
        self.store = store
        self.require_pool = require_pool
        self.checked: BoundedCache[ChoicesControl] = BoundedCache(CONFIG_CACHE_ENTRIES, CONFIG_CACHE_BYTES)
        #: project -> why the pool does not fit its stored label config (found at start, cleared by a new config)
        self.errors: dict[int, str] = {}

    def check_known_projects(self) -> dict[int, str]:
        """Check the pool against the label config of every project in the store (at start).

        A project the pool no longer fits is logged and listed in /health; its
        requests get 422 until the pool or the config is fixed.
        """
        errors = {}
        for project, config in self.store.projects().items():
            try:
                self.choices_for(config)
            except RequestError as exc:
                errors[project] = exc.message
                logger.error("project %s: the pool does not fit its label config: %s", project, exc.message)
        self.errors.update(errors)
        return errors

    def choices_for(self, label_config: str) -> ChoicesControl:
        """Parse a label config and check the pool against it (cached per config text)."""
        pool = self.require_pool()
        key = digest(label_config)
        choices = self.checked.get(key)
        if choices is not None:
            return choices
        try:  # outside every lock: a huge config delays only its own request
            choices = parse_choices(label_config)
            pool.check(choices)
        except (LabelConfigError, PoolError) as exc:
            raise RequestError(422, str(exc)) from None
        self.checked.put(key, choices, len(label_config))
        return choices

    def project_choices(self, project: int, label_config: str | None = None) -> ChoicesControl:
        """Choices of the given config (stored if new) or of the stored one."""
        if label_config is not None:
            if not isinstance(label_config, str):
                raise RequestError(400, "'label_config' must be a string")
            choices = self.choices_for(label_config)
            self.store.set_label_config(project, label_config)
            self.errors.pop(project, None)
            return choices
        stored = self.store.get_label_config(project)
        if stored is None:
            raise RequestError(404, f"project {project} is unknown: connect the backend to it first (/setup)")
        return self.choices_for(stored)
