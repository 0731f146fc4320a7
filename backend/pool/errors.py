"""What can go wrong with the pool: an unusable pool file, a failing source, an unmappable prediction."""
from __future__ import annotations


class PoolError(ValueError):
    """The pool file, or its fit to the project's label config, is unusable.

    ``errors`` lists every problem found, each naming the candidate and field.
    """

    def __init__(self, errors: list[str] | str):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("; ".join(self.errors))


class SourceError(RuntimeError):
    """A source could not produce outputs; ``index`` is the offending input, if known."""

    def __init__(self, message: str, index: int | None = None):
        self.index = index
        super().__init__(message)


class PredictionError(RuntimeError):
    """A candidate's prediction for a task is missing or maps to no Choice.

    The message names the candidate, the task and the value.
    """


def parse_mapping(load, text: str, syntax_error: type[Exception], where: str, bad_syntax, not_mapping: str) -> dict:
    """``load(text)`` when it is a mapping (the pool file, a JSON Lines row); otherwise a :class:`PoolError`:
    ``f"{where}{bad_syntax(exc)}"`` when ``load`` raises ``syntax_error``, ``f"{where}{not_mapping}"`` when
    the document is not a mapping."""
    try:
        doc = load(text)
    except syntax_error as exc:
        raise PoolError(f"{where}{bad_syntax(exc)}") from None
    if not isinstance(doc, dict):
        raise PoolError(f"{where}{not_mapping}")
    return doc
