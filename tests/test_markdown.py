"""Every tracked Markdown file renders as its author meant it.

Why: a single stray character after a closing code fence turns the rest of a
file inside out (prose becomes code, code becomes prose), and a renamed file or
heading silently breaks the links that point at it.  Neither shows in a diff,
so this test renders each ``.md`` file that git tracks with markdown-it-py (a
CommonMark parser, the same rules GitHub follows) and fails on

* a code fence that is never closed, or a line inside a code block that looks
  like a closing fence with text after it (the fence then stays open);
* a relative link to a file or folder that does not exist in the checkout or
  is ignored by git (so a fresh clone would not have it);
* an ``#anchor`` (in the same file or in another tracked ``.md`` file) that
  matches no heading, using GitHub's heading-slug rules;
* an image whose file does not exist.

The second half of the file feeds the checker small bad documents, so each
defect is known to be caught, and good ones, so it is known not to cry wolf.
"""
from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

REPO = Path(__file__).resolve().parents[1]

#: CommonMark plus GitHub's tables and strikethrough, as github.com renders them
_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
#: ``href``/``src``/``id``/``name`` attributes of raw HTML inside Markdown
_HTML_ATTR = re.compile(r"""\b(href|src|id|name)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading whose rendered text is ``text``.

    Lower case; every character that is not a letter, digit, combining mark,
    ``_``, ``-`` or a space is dropped; each space becomes ``-`` (runs are not
    collapsed), as github-slugger does.
    """
    kept = []
    for ch in text.strip().lower():
        if ch == " ":
            kept.append("-")
        elif ch in "-_" or ch.isalnum() or unicodedata.category(ch).startswith("M"):
            kept.append(ch)
    return "".join(kept)


def _plain_text(inline) -> str:
    """The text a reader sees of an inline token (markup and raw HTML removed)."""
    parts = []
    for child in inline.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_plain_text(child))
    return "".join(parts)


def anchors(tokens) -> set[str]:
    """Every ``#fragment`` the rendered document answers: heading slugs (with
    GitHub's ``-1``, ``-2`` suffixes for repeats) and raw HTML ``id``/``name``."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            slug = github_slug(_plain_text(tokens[i + 1]))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
        for html in _raw_html(token):
            found.update(value for attr, value in _HTML_ATTR.findall(html) if attr.lower() in ("id", "name"))
    return found


def _raw_html(token) -> list[str]:
    if token.type == "html_block":
        return [token.content]
    return [child.content for child in token.children or [] if child.type == "html_inline"]


def _references(tokens) -> list[tuple[int, str, str]]:
    """``(line, kind, target)`` of every link and image, ``kind`` "link" or "image"."""
    refs = []
    for token in tokens:
        line = token.map[0] + 1 if token.map else 0
        for child in token.children or []:
            if child.type == "link_open":
                refs.append((line, "link", child.attrGet("href") or ""))
            elif child.type == "image":
                refs.append((line, "image", child.attrGet("src") or ""))
        for html in _raw_html(token):
            for attr, value in _HTML_ATTR.findall(html):
                if attr.lower() in ("href", "src"):
                    refs.append((line, "image" if attr.lower() == "src" else "link", value))
    return refs


def fence_problems(text: str, tokens) -> list[str]:
    """Unclosed fences, and text after what was meant as a closing fence."""
    lines = text.splitlines()
    problems = []
    for token in tokens:
        if token.type != "fence" or not token.map:
            continue
        start, end = token.map
        marker = token.markup  # e.g. "```" or "~~~~"
        closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}\s*$")
        if end - 1 <= start or not closing.match(lines[end - 1]):
            problems.append(f"line {start + 1}: code fence {marker} is never closed (it runs to the end of the file)")
        stray = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}\s*\S")
        for offset, line in enumerate(lines[start + 1:end - 1], start=start + 2):
            if stray.match(line):
                problems.append(
                    f"line {offset}: text after a closing fence ({line.strip()[:40]!r}); a closing fence must stand "
                    "alone, so the code block stays open")
    return problems


def check_markdown(path: Path, root: Path, ignored=lambda paths: set()) -> list[str]:
    """Every rendering defect of the Markdown file ``path`` inside ``root``.

    ``ignored`` maps repository-relative paths to the subset git ignores (the
    real one asks ``git check-ignore``; unit tests pass none).
    """
    text = path.read_text(encoding="utf-8")
    tokens = _PARSER.parse(text)
    problems = fence_problems(text, tokens)
    own_anchors = anchors(tokens)
    pending = []  # (line, kind, target path, fragment)
    for line, kind, target in _references(tokens):
        if not target or _SCHEME.match(target) or target.startswith("//"):
            continue  # external (http:, mailto:, ...)
        parts = urlsplit(target)
        fragment = unquote(parts.fragment)
        if not parts.path:
            if fragment not in own_anchors:
                problems.append(f"line {line}: link #{fragment} matches no heading in this file")
            continue
        relative = unquote(parts.path)
        base = root if relative.startswith("/") else path.parent
        resolved = (base / relative.lstrip("/")).resolve()
        if resolved != root and root not in resolved.parents:
            problems.append(f"line {line}: {kind} {target} points outside the repository")
            continue
        if not resolved.exists():
            what = "missing image" if kind == "image" else "broken link"
            problems.append(f"line {line}: {what} {target} (no such file: {resolved.relative_to(root)})")
            continue
        if kind == "image" and not resolved.is_file():
            problems.append(f"line {line}: image {target} is a folder, not a file")
            continue
        pending.append((line, target, resolved, fragment))
    hidden = ignored([str(r.relative_to(root)) for _, _, r, _ in pending]) if pending else set()
    for line, target, resolved, fragment in pending:
        if str(resolved.relative_to(root)) in hidden:
            problems.append(f"line {line}: link {target} points to a file git ignores (absent from a fresh clone)")
        elif fragment and resolved.suffix.lower() == ".md":
            if fragment not in anchors(_PARSER.parse(resolved.read_text(encoding="utf-8"))):
                problems.append(f"line {line}: link {target}: #{fragment} matches no heading of {resolved.name}")
    return problems


def _git_ignored(paths: list[str]) -> set[str]:
    """The subset of ``paths`` (relative to the repository) that git ignores."""
    run = subprocess.run(["git", "check-ignore", "--stdin"], cwd=REPO, input="\n".join(paths),
                         capture_output=True, text=True, check=False)
    if run.returncode not in (0, 1):
        raise RuntimeError(f"git check-ignore failed: {run.stderr.strip()}")
    return {line.strip() for line in run.stdout.splitlines() if line.strip()}


def _tracked_markdown() -> list[str]:
    run = subprocess.run(["git", "ls-files", "*.md"], cwd=REPO, capture_output=True, text=True, check=True)
    return sorted(run.stdout.split())


TRACKED = _tracked_markdown()


def test_the_repository_has_markdown_files():
    """Guards the parametrised test below against silently checking nothing."""
    assert "README.md" in TRACKED


@pytest.mark.parametrize("relative", TRACKED)
def test_markdown_renders(relative):
    problems = check_markdown(REPO / relative, REPO, _git_ignored)
    assert not problems, f"{relative}:\n" + "\n".join(problems)


# --- the checker itself, on small documents ---------------------------------------------------


def _check(tmp_path: Path, text: str, name: str = "doc.md", ignored=lambda paths: set()) -> list[str]:
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return check_markdown(target, tmp_path, ignored)


def test_a_clean_document_has_no_problems(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## The pool file\n", encoding="utf-8")
    (tmp_path / "plot.png").write_bytes(b"\x89PNG")
    text = (
        "# Title\n\n## Our strategy: `consensus`\n\n## Is P(best) calibrated?\n\n## Title\n\n"
        "```bash\necho hi\n```\n\n~~~~\n```\nnested\n```\n~~~~\n\n"
        "[a](#our-strategy-consensus) [b](#is-pbest-calibrated) [c](#title-1) [d](docs/other.md#the-pool-file)\n"
        "[e](docs/) [f](https://example.com/x#y) [g](mailto:a@b.c) ![p](plot.png) [h](/docs/other.md)\n\n"
        "| a | b |\n| --- | --- |\n| [i](#title) | x |\n"
    )
    assert _check(tmp_path, text) == []


def test_an_unclosed_fence_is_caught(tmp_path):
    problems = _check(tmp_path, "# T\n\n```\ncode\n\n## Later heading\n")
    assert len(problems) == 1 and "line 3: code fence ``` is never closed" in problems[0]


def test_text_after_a_closing_fence_is_caught(tmp_path):
    # the README defect: "``` **Reported**: ..." does not close the block, the next ``` does
    text = "```\ncode\n``` **Reported**: more text\n\n## Heading\n\n```\nmore code\n```\n"
    problems = _check(tmp_path, text)
    assert any("line 3: text after a closing fence" in p for p in problems), problems


def test_a_broken_relative_link_is_caught(tmp_path):
    problems = _check(tmp_path, "# T\n\nSee [the pool](docs/pool-file.md).\n")
    assert problems == ["line 3: broken link docs/pool-file.md (no such file: docs/pool-file.md)"]


def test_a_link_to_a_missing_anchor_is_caught(tmp_path):
    problems = _check(tmp_path, "# T\n\n## Connect a project\n\n[x](#connect-your-project) [y](#connect-a-project)\n")
    assert problems == ["line 5: link #connect-your-project matches no heading in this file"]


def test_a_missing_anchor_in_another_file_is_caught(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Settings\n", encoding="utf-8")
    problems = _check(tmp_path, "[x](other.md#settings) [y](other.md#setting)\n")
    assert problems == ["line 1: link other.md#setting: #setting matches no heading of other.md"]


def test_a_missing_image_is_caught(tmp_path):
    problems = _check(tmp_path, "# T\n\n![curve](results/curve.png)\n")
    assert problems == ["line 3: missing image results/curve.png (no such file: results/curve.png)"]


def test_raw_html_links_images_and_anchors_are_checked(tmp_path):
    text = '<a name="top"></a>\n\n# T\n\n<img src="gone.png">\n\n[up](#top)\n'
    assert _check(tmp_path, text) == ["line 5: missing image gone.png (no such file: gone.png)"]


def test_a_link_out_of_the_repository_is_caught(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "outside.md").write_text("x\n", encoding="utf-8")
    target = tmp_path / "repo" / "doc.md"
    target.write_text("[x](../outside.md)\n", encoding="utf-8")
    assert check_markdown(target, tmp_path / "repo") == ["line 1: link ../outside.md points outside the repository"]


def test_a_link_to_a_git_ignored_file_is_caught(tmp_path):
    (tmp_path / "model_dir").mkdir()
    (tmp_path / "model_dir" / "state.txt").write_text("x", encoding="utf-8")
    problems = _check(tmp_path, "[state](model_dir/state.txt)\n", ignored=lambda paths: set(paths))
    assert problems == ["line 1: link model_dir/state.txt points to a file git ignores (absent from a fresh clone)"]


@pytest.mark.parametrize("heading, slug", [
    ("Docker compose", "docker-compose"),
    ("Our strategy: `consensus`", "our-strategy-consensus"),
    ("Is P(best) calibrated?", "is-pbest-calibrated"),
    ("Settings (environment variables)", "settings-environment-variables"),
    ("A -- B", "a----b"),
    ("Café & crème", "café--crème"),
    ("snake_case name", "snake_case-name"),
])
def test_github_slugs(heading, slug):
    assert github_slug(heading) == slug
