""".dockerignore: the build context holds what backend/Dockerfile copies and nothing heavy or private."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _regex(pattern: str) -> re.Pattern:
    """Docker's pattern syntax: ``*`` within one path part, ``**`` across parts."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            if pattern.startswith("/", i):
                out, i = out[:-2] + "(?:.*/)?", i + 1
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def excluded(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negated
    return result


@pytest.fixture(scope="module")
def patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _copied_sources() -> list[str]:
    text = (REPO_ROOT / "backend" / "Dockerfile").read_text()
    sources = []
    for line in text.splitlines():
        if line.startswith("COPY "):
            sources += line.split()[1:-1]
    return sources


def test_what_the_dockerfile_copies_is_in_the_context(patterns):
    sources = _copied_sources()
    assert {"requirements.txt", "constraints.txt", "modelpicker_core/", "backend/"} <= set(sources)
    for source in sources:
        assert not excluded(source.rstrip("/"), patterns), source
    for path in ("backend/app.py", "modelpicker_core/__init__.py", "backend/Dockerfile"):
        assert not excluded(path, patterns), path


@pytest.mark.parametrize("path", [".venv/bin/python", ".cache/ls-venv/bin/label-studio", ".git/HEAD",
                                  "model_dir/modelpicker.sqlite3", "pool/pool.yaml", "benchmarks/results/x.json",
                                  ".cache/e2e-results/digits_e2e.json", "examples/digits/generated/tasks.json",
                                  "backend/__pycache__/app.cpython-311.pyc", ".pytest_cache/v/x", ".env"])
def test_heavy_or_private_paths_stay_out(patterns, path):
    assert excluded(path, patterns)


def test_the_matcher_itself():
    assert excluded("a/b/c.pyc", ["**/*.pyc"]) and not excluded("a/b/c.py", ["**/*.pyc"])
    assert not excluded("keep/x", ["*", "!keep/"]) and excluded("drop/x", ["*", "!keep/"])
