"""``python -m demo.lock requirements.txt``: print ``constraints.txt`` (``make constraints``).

The exact version installed in the running venv of every distribution that
``requirements.txt`` pulls in, directly or through dependencies (markers and
extras evaluated for this interpreter), sorted by name.  Unlike a plain ``pip
freeze`` it leaves out what was installed by hand, and it fails, naming the
package, when a requirement is not installed (run ``make setup`` first).
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

HEADER = ("# Exact versions of everything requirements.txt pulls in, as installed in .venv (Python 3.11).\n"
          "# Used by the Makefile, CI (make test) and backend/Dockerfile: "
          "pip install -r requirements.txt -c constraints.txt\n"
          "# Regenerate after editing requirements.txt: make setup && make constraints\n")


class LockError(RuntimeError):
    """A requirement cannot be pinned; the message names it."""


def parse_requirements(lines: Iterable[str]) -> list[Requirement]:
    """The requirements of a requirements file (comments and blank lines skipped; no pip options)."""
    found = []
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            found.append(Requirement(line))
        except InvalidRequirement as exc:
            raise LockError(f"line {number}: {line!r} is not a requirement ({exc})") from None
    return found


def closure(roots: list[Requirement],
            installed: Callable[[str], tuple[str, str, list[str]] | None]) -> dict[str, tuple[str, str]]:
    """``{canonical name: (name, version)}`` of ``roots`` and everything they require.

    ``installed(name)`` gives ``(name, version, requirement strings)`` of an
    installed distribution, None when absent.  A requirement whose marker does
    not hold here (with the extras asked of its parent) is skipped.
    """
    pinned: dict[str, tuple[str, str]] = {}
    todo: list[tuple[Requirement, frozenset[str]]] = [(r, frozenset({""})) for r in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement, parent_extras = todo.pop()
        if requirement.marker is not None and not any(
                requirement.marker.evaluate({"extra": extra}) for extra in parent_extras):
            continue
        key = canonicalize_name(requirement.name)
        extras = frozenset(requirement.extras) | {""}
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        dist = installed(requirement.name)
        if dist is None:
            raise LockError(f"{requirement.name} is required but not installed (run make setup first)")
        name, version, requires = dist
        if version not in requirement.specifier and requirement.specifier:
            raise LockError(f"installed {name} {version} does not satisfy {requirement}")
        pinned[key] = (name, version)
        todo.extend((Requirement(text), extras) for text in requires)
    return pinned


def _installed(name: str) -> tuple[str, str, list[str]] | None:
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    return dist.metadata["Name"], dist.version, list(dist.requires or [])


def render(pinned: dict[str, tuple[str, str]], header: str = HEADER) -> str:
    return header + "".join(f"{name}=={version}\n" for _, (name, version) in sorted(pinned.items()))


#: the header of ``demo/label-studio-constraints.txt`` (``python -m demo.lock --label-studio``, run with
#: Label Studio's venv: ``.cache/ls-venv/bin/python -m demo.lock --label-studio``)
LABEL_STUDIO_HEADER = ("# Exact versions of label-studio==1.23.2 and everything it pulls in, "
                       "as installed in .cache/ls-venv\n"
                       "# (Python 3.11). make ls-venv installs with: "
                       "pip install -c demo/label-studio-constraints.txt label-studio==1.23.2\n"
                       "# Regenerate: .cache/ls-venv/bin/python -m demo.lock --label-studio "
                       "> demo/label-studio-constraints.txt\n")


#: the header of ``constraints-mlflow.txt`` (``python -m demo.lock requirements-mlflow.txt``, make constraints)
MLFLOW_CLIENT_HEADER = ("# Exact versions of everything requirements-mlflow.txt (the optional MLflow client) pulls in, "
                        "as installed in .venv\n# (Python 3.11). make test installs with: pip install -r "
                        "requirements-mlflow.txt -c constraints.txt -c constraints-mlflow.txt\n"
                        "# Regenerate: make constraints\n")
#: the header of ``tests/support/mlflow-server-constraints.txt`` (the MLflow server's own venv)
MLFLOW_SERVER_HEADER = ("# Exact versions of mlflow==3.17.2 (the server the tests start) and everything it pulls in, "
                        "as installed in\n# .cache/mlflow-venv (Python 3.11). make mlflow-venv installs with: "
                        "pip install -c tests/support/mlflow-server-constraints.txt mlflow==3.17.2\n"
                        "# Regenerate: .cache/mlflow-venv/bin/python -m demo.lock --mlflow-server "
                        "> tests/support/mlflow-server-constraints.txt\n")


def main(argv: list[str]) -> int:
    if argv == ["--label-studio"]:
        lines, header, source = ["label-studio==1.23.2"], LABEL_STUDIO_HEADER, "label-studio==1.23.2"
    elif argv == ["--mlflow-server"]:
        lines, header, source = ["mlflow==3.17.2"], MLFLOW_SERVER_HEADER, "mlflow==3.17.2"
    elif len(argv) == 1 and not argv[0].startswith("-"):
        source = argv[0]
        header = MLFLOW_CLIENT_HEADER if Path(source).name == "requirements-mlflow.txt" else HEADER
        try:
            lines = Path(source).read_text().splitlines()
        except OSError as exc:
            print(f"demo.lock: cannot read {source}: {exc.strerror}", file=sys.stderr)
            return 2
    else:
        print("usage: python -m demo.lock requirements.txt > constraints.txt\n"
              "       .cache/ls-venv/bin/python -m demo.lock --label-studio > demo/label-studio-constraints.txt",
              file=sys.stderr)
        return 2
    try:
        print(render(closure(parse_requirements(lines), _installed), header), end="")
    except LockError as exc:
        print(f"demo.lock: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
