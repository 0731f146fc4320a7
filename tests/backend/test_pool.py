"""The candidate pool: the four source types, and errors naming candidate and field."""
from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path

import joblib
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from backend.labelconfig import parse_choices
from backend.pool import PoolError, PredictionError, load_pool, output_key


def write_pool(d: Path, body: str) -> Path:
    path = d / "pool.yaml"
    path.write_text(body)
    return path


def tasks(*keys) -> list[dict]:
    return [{"id": i + 1, "data": {"key": k}} for i, k in enumerate(keys)]


@pytest.fixture
def choices(events):
    return parse_choices(events.config)


# ----------------------------------------------------------------- predictions files
def test_demo_pool_loads_csv_and_jsonl(pool_dir, choices, truth):
    pool = load_pool(pool_dir / "pool.yaml")
    assert pool.names == ["good", "fair", "poor"] and len(pool.fingerprint) == 12
    assert [k.split("@")[0] for k in pool.cache_keys] == pool.names
    pool.check(choices)
    ts = tasks(*(f"k{i}" for i in range(len(truth))))
    right = {c.name: sum(v == choices.values[t] for v, t in zip(c.predict_tasks(ts, choices), truth))
             for c in pool.candidates}
    assert right == {"good": 27, "fair": 21, "poor": 12}


def test_cache_key_follows_the_entry_and_the_file(pool_dir):
    before = load_pool(pool_dir / "pool.yaml").cache_keys
    with open(pool_dir / "good.csv", "a") as fh:
        fh.write("k999,1\n")
    after = load_pool(pool_dir / "pool.yaml").cache_keys
    assert after[0] != before[0] and after[1:] == before[1:]
    text = (pool_dir / "pool.yaml").read_text().replace("label_column: pred}", "label_column: pred, format: jsonl}")
    (pool_dir / "pool.yaml").write_text(text)
    assert load_pool(pool_dir / "pool.yaml").cache_keys[1] != after[1]


def test_output_key_unifies_numbers_and_strings():
    import numpy as np

    assert {output_key(v) for v in (3, "3", 3.0, np.int64(3), np.float32(3.0))} == {"3"}
    assert output_key("cat") == "cat" and output_key(2.5) == "2.5" and output_key(True) == "true"


def test_missing_key_and_unmapped_output_name_candidate_task_value(tmp_path, choices):
    (tmp_path / "p.csv").write_text("key,label\na,0\nb,7\n")
    pool = load_pool(write_pool(tmp_path, "data_field: key\ncandidates:\n"
                                          "  - name: m\n    source: {type: predictions, path: p.csv}\n"
                                          "    labels: {0: zero, 7: three}\n"))
    cand = pool.candidates[0]
    with pytest.raises(PredictionError, match=r"candidate 'm': task 2: no row with key='zz' in p.csv"):
        cand.predict_tasks(tasks("a", "zz"), choices)
    with pytest.raises(PredictionError, match=r"candidate 'm': task 1: output '7' maps to 'three', which is not"):
        cand.predict_tasks(tasks("b"), choices)
    with pytest.raises(PredictionError, match=r"candidate 'm': task 1: task data has no field 'key'"):
        cand.predict_tasks([{"id": 1, "data": {"other": 1}}], choices)
    with pytest.raises(PoolError) as info:  # and the start-up check says the same before any task is seen
        pool.check(choices)
    assert "candidate 'm': labels['7']: 'three' is not a Choice of 'label'" in str(info.value)


def test_check_flags_outputs_the_map_misses(tmp_path, choices):
    (tmp_path / "p.csv").write_text("key,label\na,0\nb,1\nc,2\n")
    (tmp_path / "q.jsonl").write_text('{"key": "a", "label": "zero"}\n{"key": "b", "label": "four"}\n')
    pool = load_pool(write_pool(tmp_path, "data_field: key\ncandidates:\n"
                                          "  - name: m\n    source: {type: predictions, path: p.csv}\n"
                                          "    labels: {0: zero, 1: one}\n"
                                          "  - name: n\n    source: {type: predictions, path: q.jsonl}\n"))
    with pytest.raises(PoolError) as info:
        pool.check(choices)
    assert info.value.errors == [
        "candidate 'm': labels: the model can output '2', which the map does not cover",
        "candidate 'n': labels: output 'four' is not a Choice of 'label' and there is no labels map "
        "(Choices: 'zero', 'one', 'two')"]


# ------------------------------------------------------------------ errors per source
@pytest.mark.parametrize("source, message", [
    ("{type: predictions, path: nope.csv}", "candidate 'c': source.path: file not found: "),
    ("{type: predictions, path: p.txt}", "candidate 'c': source.format: must be csv or jsonl"),
    ("{type: predictions, path: p.csv, label_column: pred}",
     "candidate 'c': source.path: column 'pred' is not in p.csv"),
    ("{type: predictions, path: p.csv, key_column: id}", "candidate 'c': source.path: column 'id' is not in p.csv"),
    ("{type: predictions, path: dup.csv}", "candidate 'c': source.path: dup.csv line 3: key 'a' appears twice"),
    ("{type: predictions, path: bad.jsonl}", "candidate 'c': source.path: bad.jsonl line 2 is not JSON"),
    ("{type: predictions, path: list.jsonl}", "candidate 'c': source.path: list.jsonl line 3 is not a JSON object"),
    ("{type: predictions, path: hole.jsonl}",
     "candidate 'c': source.path: hole.jsonl line 1 has no value in column 'label'"),
    ("{type: predictions, path: p.csv, colour: red}",
     "candidate 'c': source.colour: unknown field for a predictions source"),
    ("{type: sklearn, path: nope.joblib}", "candidate 'c': source.path: file not found"),
    ("{type: sklearn, path: p.csv}", "candidate 'c': source.path: cannot load p.csv with joblib"),
    ("{type: sklearn, path: dict.joblib}",
     "candidate 'c': source.path: dict.joblib holds a dict, which has no predict"),
    ("{type: http}", "candidate 'c': source.url: must be a non-empty string"),
    ("{type: http, url: 'ftp://x'}", "candidate 'c': source.url: must start with http:// or https://"),
    ("{type: http, url: 'http://127.0.0.1:1/', timeout: 0}", "candidate 'c': source.timeout: must be a number"),
    ("{type: http, url: 'http://127.0.0.1:1/', retries: -1}", "candidate 'c': source.retries: must be an integer"),
    ("{type: http, url: 'http://127.0.0.1:1/', headers: [1]}", "candidate 'c': source.headers: must be a mapping"),
    ("{type: callable, target: 'nocolon'}", "candidate 'c': source.target: 'nocolon' must look like"),
    ("{type: callable, target: 'no_such_module_xyz:f'}",
     "candidate 'c': source.target: cannot import 'no_such_module_xyz'"),
    ("{type: callable, target: 'json:no_such_function'}",
     "candidate 'c': source.target: 'json' has no callable 'no_such_function'"),
    ("{type: magic}",
     "candidate 'c': source.type: must be one of predictions, sklearn, http, callable, mlflow, got 'magic'"),
    ("[1, 2]", "candidate 'c': source: must be a mapping"),
])
def test_source_errors_name_candidate_and_field(tmp_path, source, message):
    (tmp_path / "p.csv").write_text("key,label\na,0\n")
    (tmp_path / "p.txt").write_text("a,0\n")
    (tmp_path / "dup.csv").write_text("key,label\na,0\na,1\n")
    (tmp_path / "bad.jsonl").write_text('{"key": "a", "label": 0}\n{oops\n')
    (tmp_path / "hole.jsonl").write_text('{"key": "a"}\n')
    (tmp_path / "list.jsonl").write_text('{"key": "a", "label": 0}\n\n["b", 1]\n')   # a blank line is skipped
    joblib.dump({"not": "a model"}, tmp_path / "dict.joblib")
    path = write_pool(tmp_path, f"data_field: key\ncandidates:\n  - name: c\n    source: {source}\n")
    with pytest.raises(PoolError) as info:
        load_pool(path)
    assert message in str(info.value)


def test_field_is_required_when_there_is_no_data_field(tmp_path):
    (tmp_path / "p.csv").write_text("key,label\na,0\n")
    path = write_pool(tmp_path, "candidates:\n  - name: c\n    source: {type: predictions, path: p.csv}\n"
                                "  - name: d\n    source: {type: callable, target: 'json:dumps'}\n")
    with pytest.raises(PoolError) as info:
        load_pool(path)
    assert info.value.errors == [
        "candidate 'c': source.key_field: must be a non-empty string (or set data_field at the top of the pool file)",
        "candidate 'd': source.field: must be a non-empty string (or set data_field at the top of the pool file)"]


@pytest.mark.parametrize("body, message", [
    ("candidates: [", "not valid YAML"),
    ("- 1\n- 2\n", "must be a mapping with a 'candidates' list"),
    ("candidates: []\n", "candidates: must be a non-empty list"),
    ("data_field: key\nmodels: []\ncandidates: []\n", "models: unknown field"),
    ("data_field: 3\ncandidates:\n  - name: a\n    source: {type: callable, target: 'json:dumps', field: x}\n",
     "data_field: must be a non-empty string"),
    ("data_field: k\ncandidates:\n  - 5\n", "candidate #1: must be a mapping"),
    ("data_field: k\ncandidates:\n  - source: {type: callable, target: 'json:dumps'}\n", "candidate #1: name: must be"),
    ("data_field: k\ncandidates:\n  - {name: a, source: {type: callable, target: 'json:dumps'}, colour: 1}\n",
     "candidate 'a': colour: unknown field"),
    ("data_field: k\ncandidates:\n  - {name: a, source: {type: callable, target: 'json:dumps'}, labels: []}\n",
     "candidate 'a': labels: must be a non-empty mapping"),
    ("data_field: k\ncandidates:\n  - {name: a, source: {type: callable, target: 'json:dumps'}, labels: {0: [1]}}\n",
     "candidate 'a': labels['0']: Choice value must be a string"),
    ("data_field: k\ncandidates:\n  - {name: a, source: {type: callable, target: 'json:dumps'}}\n"
     "  - {name: a, source: {type: callable, target: 'json:loads'}}\n", "candidate 'a': name: used by more than one"),
])
def test_pool_file_errors(tmp_path, body, message):
    with pytest.raises(PoolError) as info:
        load_pool(write_pool(tmp_path, body))
    assert message in str(info.value)


def test_unreadable_pool_file(tmp_path):
    with pytest.raises(PoolError, match="cannot read"):
        load_pool(tmp_path / "missing.yaml")


# ---------------------------------------------------------------------------- sklearn
def test_sklearn_pipeline_trained_here(tmp_path, choices):
    x = [[0.0, 0.1], [0.2, 0.0], [5.0, 5.2], [5.1, 4.9], [9.8, 0.1], [10.2, 0.3]]
    y = [0, 0, 1, 1, 2, 2]
    joblib.dump(make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y), tmp_path / "m.joblib")
    pool = load_pool(write_pool(tmp_path, "candidates:\n  - name: lr\n"
                                          "    source: {type: sklearn, path: m.joblib, field: x}\n"
                                          "    labels: {0: zero, 1: one, 2: two}\n"))
    pool.check(choices)
    cand = pool.candidates[0]
    ts = [{"id": 1, "data": {"x": [0.1, 0.0]}}, {"id": 2, "data": {"x": [5.0, 5.0]}},
          {"id": 3, "data": {"x": [10.0, 0.0]}}]
    assert cand.predict_tasks(ts, choices) == ["zero", "one", "two"]
    with pytest.raises(PredictionError, match=r"candidate 'lr': tasks \[1\]: predict failed: ValueError"):
        cand.predict_tasks([{"id": 1, "data": {"x": "not numbers"}}], choices)


def test_sklearn_classes_are_checked_against_the_map(tmp_path, choices):
    joblib.dump(LogisticRegression().fit([[0], [1], [2], [3]], [0, 1, 2, 3]), tmp_path / "m.joblib")
    pool = load_pool(write_pool(tmp_path, "candidates:\n  - name: lr\n"
                                          "    source: {type: sklearn, path: m.joblib, field: x}\n"
                                          "    labels: {0: zero, 1: one, 2: two}\n"))
    with pytest.raises(PoolError,
                       match="candidate 'lr': labels: the model can output '3', which the map does not cover"):
        pool.check(choices)


# ------------------------------------------------------------------------------- http
class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers like a model server; some paths misbehave on purpose."""

    calls: dict[str, int] = {}

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        n = type(self).calls[self.path] = type(self).calls.get(self.path, 0) + 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        inputs = body["inputs"]
        if self.path == "/flaky" and n <= 2:
            return self._send(503, {"error": "warming up"})
        if self.path == "/slow":
            time.sleep(0.5)
        if self.path == "/reject":
            return self._send(400, {"error": "bad input"})
        if self.path == "/short":
            return self._send(200, {"predictions": inputs[:-1]})
        if self.path == "/text":
            self.send_response(200)
            self.end_headers()
            return self.wfile.write(b"hello")
        assert self.headers.get("X-Token") == "t" or self.path != "/ok"
        self._send(200, {"predictions": [len(v) % 3 for v in inputs]})

    def _send(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except BrokenPipeError:  # the client gave up (the timeout test); nothing to answer
            pass


@pytest.fixture(scope="module")
def _running_server(free_port):
    """A real HTTP model server on 127.0.0.1 in a thread, for the whole module."""
    from socketserver import ThreadingMixIn

    class Server(ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", free_port()), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def http_server(_running_server):
    """``(base url, calls per path)``, the call counts fresh for each test."""
    _Handler.calls = {}
    return _running_server, _Handler.calls


@pytest.fixture
def free_http_port(free_port):
    return free_port()


def http_pool(tmp_path, url, timeout=2, retries=2):
    return load_pool(write_pool(tmp_path, f"data_field: key\ncandidates:\n  - name: remote\n"
                                          f"    source: {{type: http, url: '{url}', timeout: {timeout}, "
                                          f"retries: {retries}, headers: {{X-Token: t}}}}\n"
                                          f"    labels: {{0: zero, 1: one, 2: two}}\n")).candidates[0]


def test_http_source_round_trip(tmp_path, http_server, choices):
    url, calls = http_server
    cand = http_pool(tmp_path, url + "/ok")
    assert cand.predict_tasks(tasks("abc", "a", "ab"), choices) == ["zero", "one", "two"]
    assert calls == {"/ok": 1}  # one batched request


def test_http_retries_5xx_then_succeeds(tmp_path, http_server, choices):
    url, calls = http_server
    assert http_pool(tmp_path, url + "/flaky", retries=2).predict_tasks(tasks("a"), choices) == ["one"]
    assert calls["/flaky"] == 3


def test_http_gives_up_after_retries(tmp_path, http_server, choices):
    url, calls = http_server
    with pytest.raises(PredictionError, match=r"candidate 'remote': .*answered HTTP 503 \(after 2 attempts\)"):
        http_pool(tmp_path, url + "/flaky", retries=1).predict_tasks(tasks("a"), choices)
    assert calls["/flaky"] == 2


def test_http_timeout_is_retried_then_reported(tmp_path, http_server, choices):
    url, calls = http_server
    with pytest.raises(PredictionError, match=r"candidate 'remote': .*no answer from .*/slow within 0.1 s "
                                              r"\(after 2 attempts\)"):
        http_pool(tmp_path, url + "/slow", timeout=0.1, retries=1).predict_tasks(tasks("a"), choices)
    assert calls["/slow"] == 2


@pytest.mark.parametrize("path, message", [
    ("/reject", "answered HTTP 400"),
    ("/short", r"must answer \{\"predictions\": \[...\]\} with 2 items"),
    ("/text", "did not answer JSON"),
])
def test_http_client_errors_are_not_retried(tmp_path, http_server, choices, path, message):
    url, calls = http_server
    with pytest.raises(PredictionError, match=f"candidate 'remote': .*{message}"):
        http_pool(tmp_path, url + path).predict_tasks(tasks("a", "b"), choices)
    assert calls[path] == 1


def test_http_unreachable(tmp_path, free_http_port, choices):
    cand = http_pool(tmp_path, f"http://127.0.0.1:{free_http_port}/x", retries=1)
    with pytest.raises(PredictionError, match=r"cannot reach http://127.0.0.1:\d+/x: ConnectionError \(after 2"):
        cand.predict_tasks(tasks("a"), choices)


# --------------------------------------------------------------------------- callable
def test_callable_next_to_the_pool_file(tmp_path, choices):
    (tmp_path / "mp_test_models_a.py").write_text(
        "def predict(values):\n    return [v.upper() for v in values]\n"
        "def broken(values):\n    raise RuntimeError('boom')\n"
        "def short(values):\n    return []\n")
    pool = load_pool(write_pool(tmp_path, "data_field: key\ncandidates:\n"
                                          "  - {name: up, source: {type: callable, target: 'mp_test_models_a:predict'},"
                                          " labels: {ZERO: zero, ONE: one, TWO: two}}\n"
                                          "  - {name: broken,"
                                          " source: {type: callable, target: 'mp_test_models_a:broken'}}\n"
                                          "  - {name: short,"
                                          " source: {type: callable, target: 'mp_test_models_a:short'}}\n"))
    up, broken, short = pool.candidates
    assert up.predict_tasks(tasks("one", "zero"), choices) == ["one", "zero"]
    with pytest.raises(PredictionError, match="candidate 'up': task 1: output 'THREE' is not in its labels map"):
        up.predict_tasks(tasks("three"), choices)
    with pytest.raises(PredictionError,
                       match=r"candidate 'broken': .*mp_test_models_a:broken raised RuntimeError: boom"):
        broken.predict_tasks(tasks("a"), choices)
    with pytest.raises(PredictionError, match="candidate 'short': .*returned 0 outputs for 1 inputs"):
        short.predict_tasks(tasks("a"), choices)


def test_predictions_files_of_one_key_field_share_one_copy_of_the_keys(tmp_path):
    """A pool of many predictions files over the same tasks keeps the keys once (one KeyIndex per key
    field) and each file's answers as codes; lookups, gaps and a key given twice still behave."""
    from backend.pool import load_pool

    (tmp_path / "a.csv").write_text("key,label\nt1,x\nt2,y\nt3,x\n")
    (tmp_path / "b.jsonl").write_text('{"key": "t2", "label": "z"}\n{"key": "t1", "label": "x"}\n')
    (tmp_path / "c.csv").write_text("id,label\n7,x\n")
    (tmp_path / "pool.yaml").write_text(
        "candidates:\n"
        "  - {name: a, source: {type: predictions, path: a.csv, key_field: key}}\n"
        "  - {name: b, source: {type: predictions, path: b.jsonl, key_field: key}}\n"
        "  - {name: c, source: {type: predictions, path: c.csv, key_field: id}}\n")
    a, b, c = (cand.source for cand in load_pool(tmp_path / "pool.yaml").candidates)
    assert a.keys_ is b.keys_ and c.keys_ is not a.keys_ and len(a.keys_.rows) == 3
    assert a.predict(["t3", "t1"]) == ["x", "x"] and b.predict(["t1", "t2"]) == ["x", "z"]
    assert (b.lookup("t3"), c.lookup("7"), c.lookup("t1")) == (None, "x", None)
    assert b.known_outputs() == {"x", "z"} and list(a.codes_) == [0, 1, 0]
    (tmp_path / "a.csv").write_text("key,label\nt1,x\nt1,x\nt2,y\nt2,x\n")
    with pytest.raises(PoolError, match=r"a.csv line 5: key 't2' appears twice with different outputs"):
        load_pool(tmp_path / "pool.yaml")
