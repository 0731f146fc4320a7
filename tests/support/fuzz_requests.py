"""Hypothesis strategies for requests to the backend: valid-looking Label Studio payloads, mutated.

Why a module of its own: the fuzz suite (``tests/backend/test_fuzz_routes.py``)
and anything else that wants "a request Label Studio could send, or an
attacker could" draw from the same shapes.  A drawn request is a plain
:class:`FuzzRequest` (method, path, query string, body bytes, headers), so the
same value can be replayed through Flask's test client or over HTTP.

The payload shapes are those of Label Studio 1.23.2's webhooks
(``docs/backend.md``, ``tests/backend/conftest.py``): every action, with
fields replaced by wrong types, huge/negative/unicode/lone-surrogate ids,
deep nesting, and bodies sent under odd content types.
"""
from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED",
           "TASKS_CREATED", "TASKS_DELETED", "PROJECT_UPDATED", "PROJECT_CREATED", "PROJECT_DELETED",
           "START_TRAINING", "LABEL_LINK_CREATED", "LABEL_LINK_UPDATED", "LABEL_LINK_DELETED")
ROUTES_GET = ("/health", "/rankings", "/jobs", "/rounds", "/export", "/versions")
ROUTES_POST = ("/setup", "/predict", "/webhook", "/rounds", "/sync", "/versions", "/train")
UNKNOWN_ROUTES = ("/", "/admin", "/webhook/", "/rankings/1", "/metrics", "/..%2f..%2fetc%2fpasswd",
                  "/%00", "/static/x.js", "/api/projects/", "/health/extra", "/\u00e9t\u00e9")
CONTENT_TYPES = ("application/json", "application/json; charset=utf-8", "text/plain", "text/html",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
                 "application/xml", "APPLICATION/JSON", "application/json; charset=latin-1",
                 "application/vnd.api+json", "", "*/*")


@dataclasses.dataclass(frozen=True)
class FuzzRequest:
    """One HTTP request: ``method``, ``path``, ``query`` (already encoded), ``body`` bytes, ``headers``."""

    method: str
    path: str
    query: str = ""
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def url(self) -> str:
        return self.path + (("?" + self.query) if self.query else "")

    def short(self) -> str:
        """A one-line description for assertion messages (the body cut to 300 bytes)."""
        body = b"" if self.body is None else self.body[:300]
        return f"{self.method} {self.url[:300]} headers={dict(self.headers)} body={body!r}"


# ------------------------------------------------------------------ scalars
#: ids Label Studio would send, and ones it never would
ids = st.one_of(
    st.integers(1, 40),
    st.integers(-2**70, 2**70),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64, -2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["1", "01", "1.1700000000", "\u00b2", "\u0663", "1e3", " 1", "1 ", "0x10", "\ud800",
                     "9" * 40, "1." + "9" * 40, "NaN", ""]),
    st.none(), st.booleans(), st.just([]), st.just({}),
)
#: a JSON scalar of any type, including text with lone surrogates
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=20),
                    st.sampled_from(["\ud800", "\udfff", "x\x00y", "<View/>", "\u202e", "\U0001f600"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
choice_values = st.one_of(st.sampled_from(["zero", "one", "two"]), st.text(max_size=10), scalars)
timestamps = st.one_of(
    st.sampled_from(["2026-11-23T10:00:00.000000Z", "2999-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
                     "2026-11-23T10:00:00+14:00", "not a date", "", "9999-99-99T99:99:99Z", "\ud800"]),
    st.integers(-2**70, 2**70), st.none(), st.floats())


def _config(choices: list[str]) -> str:
    return ('<View><Text name="text" value="$key"/><Choices name="label" toName="text">'
            + "".join(f'<Choice value="{c}"/>' for c in choices) + "</Choices></View>")


label_configs = st.one_of(
    st.just(_config(["zero", "one", "two"])),
    st.lists(st.text(min_size=1, max_size=6), min_size=0, max_size=6).map(_config),
    st.sampled_from(["", "<View/>", "<View>", "not xml", "<!DOCTYPE x [<!ENTITY a 'b'>]><View>&a;</View>",
                     _config(["zero", "zero"]), '<View><Choices name="label" toName="t"/></View>']),
    scalars,
)


# ------------------------------------------------------------------ payloads
def _annotation(aid: Any, tid: Any, choice: Any, updated: Any, cancelled: Any) -> dict:
    return {"id": aid, "task": tid, "project": 1,
            "result": [{"from_name": "label", "to_name": "text", "type": "choices",
                        "value": {"choices": [choice]}}],
            "was_cancelled": cancelled, "ground_truth": False, "updated_at": updated}


def _task(tid: Any, key: Any) -> dict:
    return {"id": tid, "data": {"key": key}, "project": 1}


annotations = st.builds(_annotation, ids, ids, choice_values, timestamps, st.one_of(st.booleans(), scalars))
sane_annotations = st.builds(_annotation, st.integers(1, 60), st.integers(1, 30),
                             st.sampled_from(["zero", "one", "two"]),
                             st.integers(0, 59).map(lambda s: f"2026-11-23T10:00:{s:02d}.000000Z"), st.just(False))
tasks = st.builds(_task, ids, st.one_of(st.integers(0, 35).map(lambda i: f"k{i}"), scalars))
sane_tasks = st.builds(_task, st.integers(1, 30), st.integers(1, 30).map(lambda i: f"k{i - 1}"))
projects = st.one_of(
    st.fixed_dictionaries({"id": st.one_of(st.just(1), ids), "title": st.text(max_size=5),
                           "label_config": label_configs,
                           "sampling": st.sampled_from(["Uncertainty sampling", "Sequential sampling", ""])}),
    ids)


@st.composite
def webhook_payloads(draw) -> Any:
    """A Label Studio webhook body of a drawn action, usually plausible, often with fields mutated."""
    action = draw(st.sampled_from(ACTIONS)) if draw(st.integers(0, 9)) else draw(scalars)
    sane = draw(st.booleans())
    ann = sane_annotations if sane else annotations
    tsk = sane_tasks if sane else tasks
    project = {"id": 1, "title": "demo", "label_config": _config(["zero", "one", "two"]),
               "sampling": "Uncertainty sampling"} if sane else draw(projects)
    body: dict[str, Any] = {"action": action, "project": project}
    if action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED"):
        body["annotation"] = draw(ann)
        body["task"] = draw(tsk)
    elif action == "ANNOTATIONS_CREATED":
        body["annotation"] = draw(st.lists(ann, max_size=5))
        body["task"] = draw(st.lists(tsk, max_size=5))
    elif action == "ANNOTATIONS_DELETED":
        body["annotations"] = draw(st.lists(st.fixed_dictionaries({"id": st.integers(1, 60) if sane else ids}),
                                            max_size=6))
    elif action in ("TASKS_CREATED", "TASKS_DELETED"):
        body["tasks"] = draw(st.lists(tsk, max_size=6))
    # mutations: drop a field, replace one with any JSON value, add junk keys
    for _ in range(draw(st.integers(0, 0 if sane else 3))):
        key = draw(st.sampled_from(sorted(body)))
        if draw(st.booleans()):
            del body[key]
        else:
            body[key] = draw(json_values)
        if not body:
            break
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.text(max_size=6))] = draw(json_values)
    return body


# ------------------------------------------------------------------ encodings
def deep(n: int) -> bytes:
    return ("[" * n + "]" * n).encode()


raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"", b" ", b"null", b"[]", b"{}", b"0", b'"x"', b"{", b'{"a":', b"\xff\xfe",
                     b'{"project": 1e400}', b'{"project": NaN}', b'{"a": "\\ud800"}', b'{"\\udfff": 1}',
                     b'{"project": ' + b"9" * 5000 + b"}", b'{"x": ' + deep(65) + b"}", deep(5000),
                     b'{"a": 1, "a": 2}', b"\x00" * 10]),
    st.integers(1, 400).map(lambda n: b'{"project": 1, "x": ' + deep(n) + b"}"),
)


def encode_json(value: Any) -> bytes:
    """``value`` as JSON bytes; lone surrogates are kept as ``\\udXXX`` escapes (as an attacker may send)."""
    return json.dumps(value, allow_nan=True).encode()


query_values = st.one_of(
    st.integers(-5, 40).map(str),
    st.sampled_from(["", "1", "1.1700000000", "\u00b2", "\u0663", "-1", "0", "9" * 40, "1e3", "%00", "%ff",
                     "1&project=2", "1.", ".1", "1.x", "x", "\ud800", "\U0001f600", "1" * 20, "9223372036854775808"]),
    st.text(max_size=10),
)
query_keys = st.sampled_from(["project", "limit", "round", "file", "x", "project[]", ""])
files = st.sampled_from(["decision.json", "ranking.csv", "ranking.json", "predictions.json", "../etc/passwd", ""])


@st.composite
def query_strings(draw) -> str:
    """``project=..&limit=..`` with junk values, repeated keys and broken escapes."""
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        key = draw(query_keys)
        value = draw(st.one_of(query_values, files)) if key == "file" else draw(query_values)
        if draw(st.integers(0, 4)) == 0:
            parts.append(f"{key}={value}".encode("utf-8", "surrogatepass").decode("latin-1"))  # raw, unescaped
        else:
            parts.append(f"{quote(key)}={quote(value.encode('utf-8', 'surrogatepass'))}")
    return "&".join(parts)


def auth_header(user: str, password: str) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


__all__ = ["FuzzRequest", "webhook_payloads", "raw_bodies", "query_strings", "encode_json", "json_values",
           "label_configs", "auth_header", "ACTIONS", "ROUTES_GET", "ROUTES_POST", "UNKNOWN_ROUTES",
           "CONTENT_TYPES", "deep"]
