"""``make run`` end to end: the demo entry point the Makefile calls (``python -m demo run``), on free ports.

The demo is started as a user's terminal would run it (its own session; Ctrl-C
is a SIGINT to that process group), with its state in a temporary directory and
the digits example built by the ``digits`` fixture (the same 400 tasks, seed 0,
that ``make example`` writes).  Once it has printed its instructions, Label
Studio's API must show what a user is told to look at: the demo project with its
400 tasks, the backend connected (with its webhook), the queue following the
backend's priority version under uncertainty sampling, and the ranking in the
description.  Three labels through the API must change the ranking; a second
run must print the same instructions instead of failing; Ctrl-C must stop every
process the demo started; the next run must reuse the project, the login and the
token, and move the connection to a backend on another port.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from backend.description_block import BEGIN_MARKER
from demo.instructions import HEADLINE
from demo.lsapi import PROJECT_TITLE
from tests.support.labelstudio import backend_python, ensure_label_studio, fast_temp_root, ls_venv_path
from tests.support.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
#: this module's ports (the demo takes the next free one when a port is taken)
LS_PORTS, BACKEND_PORTS, REDIS_PORTS = (18500, 18600), (19800, 19900), (16800, 16900)
#: the first start of Label Studio migrates its database (about 45 s alone, minutes on a busy machine)
READY_TIMEOUT = 900.0
STOP_TIMEOUT = 90.0
REFRESH_TIMEOUT = 180.0
N_LABELS = 3


class DemoProcess:
    """``python -m demo run`` in its own session, with its output collected line by line."""

    def __init__(self, args: list[str]):
        self.process = subprocess.Popen(
            [backend_python(), "-m", "demo", "run", *args], cwd=REPO_ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, start_new_session=True,
            env={k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")})
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None:
                self.reader.join(5)
                raise AssertionError(f"the demo exited with {self.process.returncode} before printing {text!r}:\n"
                                     f"{self.output[-6000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {timeout:.0f} s:\n{self.output[-6000:]}")
            time.sleep(0.5)

    def ctrl_c(self, timeout: float = STOP_TIMEOUT) -> int:
        """What a terminal does on Ctrl-C: SIGINT to the foreground process group; the exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        code = self.process.wait(timeout=timeout)
        self.reader.join(5)
        return code


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def _pgid_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def demo(digits):
    ensure_label_studio()
    root = Path(tempfile.mkdtemp(prefix="modelpicker-demo-", dir=fast_temp_root()))
    ports = {"ls": free_port(*LS_PORTS), "backend": free_port(*BACKEND_PORTS), "redis": free_port(*REDIS_PORTS)}
    args = ["--demo-dir", str(root / "demo"), "--example-dir", str(digits["dir"]), "--ls-venv", str(ls_venv_path()),
            "--ls-port", str(ports["ls"]), "--backend-port", str(ports["backend"]),
            "--redis-port", str(ports["redis"])]
    run = DemoProcess(args)
    info = {"run": run, "args": args, "root": root, "demo_dir": root / "demo", "ports": ports, "servers": []}
    try:
        run.wait_for("Press Ctrl-C", READY_TIMEOUT)
        state = json.loads((root / "demo" / "stack.json").read_text())
        info["servers"] = state["servers"]
        info["state"] = state
        yield info
    finally:
        if run.process.poll() is None:
            run.ctrl_c()
        for server in info["servers"]:  # never leave a server behind, even when a test failed
            if _pgid_alive(int(server["pid"])):
                os.killpg(int(server["pid"]), signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) of the sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def _printed(demo, label: str) -> str:
    match = re.search(rf"^\s+{label}\s+(\S+)", demo["run"].output, re.MULTILINE)
    assert match, f"the instructions print no {label!r} line:\n{demo['run'].output[-3000:]}"
    return match.group(1)


@pytest.fixture(scope="module")
def ls(demo):
    """A session authenticated as the demo admin, and Label Studio's URL as printed."""
    admin = json.loads((demo["demo_dir"] / "admin.json").read_text())
    session = requests.Session()
    session.headers["Authorization"] = f"Token {admin['token']}"
    return {"url": _printed(demo, "Label Studio"), "session": session, "admin": admin}


def _backend_login(ls) -> tuple[str, str]:
    """The backend's basic-auth login, which make run keeps with the admin's in admin.json."""
    return ls["admin"]["backend_user"], ls["admin"]["backend_password"]


def _basic_header(ls) -> str:
    import base64

    user, password = _backend_login(ls)
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _browser(url: str, email: str, password: str) -> requests.Session | None:
    """A session logged in through Label Studio's login form (as a browser does); None when refused."""
    browser = requests.Session()
    page = browser.get(url + "/user/login/", timeout=60)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert csrf, f"no login form at {url}/user/login/ (HTTP {page.status_code})"
    answer = browser.post(url + "/user/login/", timeout=60, allow_redirects=False,
                          data={"csrfmiddlewaretoken": csrf.group(1), "email": email, "password": password},
                          headers={"Referer": url + "/user/login/"})
    return browser if answer.status_code == 302 else None


def _api(ls, method: str, path: str, **kwargs):
    for attempt in range(4):  # Label Studio on SQLite answers 500 while a refresh's clean-up holds its lock
        response = ls["session"].request(method, ls["url"] + path, timeout=120, **kwargs)
        if response.status_code != 500 or attempt == 3:
            break
        time.sleep(2)
    assert response.ok, f"{method} {path}: HTTP {response.status_code} {response.text[:500]}"
    return response.json() if response.content else None


def _project(ls) -> dict:
    rows = _api(ls, "GET", "/api/projects/", params={"title": PROJECT_TITLE})
    rows = rows["results"] if isinstance(rows, dict) else rows
    matching = [row for row in rows if row["title"] == PROJECT_TITLE]
    assert len(matching) == 1, f"expected one project {PROJECT_TITLE!r}, found {[r['title'] for r in rows]}"
    return _api(ls, "GET", f"/api/projects/{matching[0]['id']}/")


def _settled_ranking(backend_url: str, ls, project: int, n_labels: int) -> dict:
    """The backend's ranking once it counts ``n_labels``, no refresh runs and Label Studio follows its version."""
    deadline = time.monotonic() + REFRESH_TIMEOUT
    while True:
        ranking = requests.get(backend_url + "/rankings", params={"project": project}, timeout=30,
                               auth=_backend_login(ls)).json()
        jobs = requests.get(backend_url + "/jobs", params={"project": project}, timeout=30,
                            auth=_backend_login(ls)).json()["jobs"]
        failed = [j for j in jobs if j["kind"] == "refresh" and j["state"] == "failed"]
        assert not failed, f"a refresh failed: {failed[0].get('message')}"
        busy = any(j["kind"] == "refresh" and j["state"] in ("queued", "started", "scheduled", "deferred")
                   for j in jobs)
        if ranking["labels"] == n_labels and not busy and \
                _api(ls, "GET", f"/api/projects/{project}/")["model_version"] == ranking["model_version"]:
            return ranking
        assert time.monotonic() < deadline, f"no settled ranking for {n_labels} labels: {ranking}, jobs {jobs[:3]}"
        time.sleep(0.5)


def _ranking_block(description: str) -> str:
    assert BEGIN_MARKER in description, f"no ranking block in the description:\n{description}"
    return description[description.index(BEGIN_MARKER):]


def test_instructions_give_the_url_the_login_and_what_to_click(demo, ls):
    output = demo["run"].output
    assert HEADLINE in output
    assert ls["url"] == f"http://127.0.0.1:{demo['ports']['ls']}"
    assert _printed(demo, "login") == ls["admin"]["email"] == "admin@example.com"
    assert _printed(demo, "password") == ls["admin"]["password"]
    assert _printed(demo, "backend") == f"http://127.0.0.1:{demo['ports']['backend']}"
    assert "Label All Tasks" in output and PROJECT_TITLE in output and "project description" in output
    # the printed login works in Label Studio's login form
    assert _browser(ls["url"], _printed(demo, "login"), _printed(demo, "password")) is not None
    # a password on the command line would be readable by every user of the machine (ps)
    for server in demo["servers"]:
        cmdline = Path(f"/proc/{server['pid']}/cmdline").read_bytes().decode(errors="replace")
        assert ls["admin"]["password"] not in cmdline and ls["admin"]["token"] not in cmdline, server["name"]


def test_every_server_runs_on_loopback_with_the_settings_the_backend_needs(demo, ls):
    # every server listens on 127.0.0.1 only (0100007F in /proc/net/tcp), none on all interfaces
    for port in (int(_printed(demo, "Label Studio").rsplit(":", 1)[1]),
                 int(_printed(demo, "backend").rsplit(":", 1)[1])):
        assert _listening_addresses(port) == {"0100007F"}, port
    names = [s["name"] for s in demo["servers"]]
    expected = ["Label Studio", "backend"] + (["redis", "rq worker"] if shutil.which("redis-server") else [])
    assert sorted(names) == sorted(expected)
    environ = Path(f"/proc/{next(s['pid'] for s in demo['servers'] if s['name'] == 'Label Studio')}/environ")
    env = dict(item.split("=", 1) for item in environ.read_bytes().decode().split("\0") if "=" in item)
    assert env["ML_BLOCK_LOCAL_IP"] == "false" and env["SSRF_PROTECTION_ENABLED"] == "false"
    assert env["LABEL_STUDIO_SENTRY_DSN"] == "" and env["LABEL_STUDIO_FRONTEND_SENTRY_DSN"] == ""
    assert env["LABEL_STUDIO_BASE_DATA_DIR"].startswith(str(demo["demo_dir"]))
    # the web page tells the browser: no Sentry, no analytics
    page = _browser(ls["url"], ls["admin"]["email"], ls["admin"]["password"]).get(ls["url"] + "/projects/",
                                                                                 timeout=60).text
    assert "sentry_dsn: null" in page and "collect_analytics: false" in page
    assert requests.get(_printed(demo, "backend") + "/health", timeout=30).status_code == 401  # auth is on
    health = requests.get(_printed(demo, "backend") + "/health", timeout=30, auth=_backend_login(ls)).json()
    assert health["jobs"] == ("rq" if shutil.which("redis-server") else "inline")
    # the backend writes back into Label Studio with a Personal Access Token, Label Studio's default kind
    backend_pid = next(s["pid"] for s in demo["servers"] if s["name"] == "backend")
    backend_env = dict(item.split("=", 1) for item in Path(f"/proc/{backend_pid}/environ").read_bytes()
                       .decode().split("\0") if "=" in item)
    assert backend_env["LABEL_STUDIO_API_KEY"] == ls["admin"]["personal_token"] != ""
    assert backend_env["LABEL_STUDIO_URL"] == ls["url"]
    assert health["label_studio"]["token"] == "personal access token" and health["label_studio"]["ok"], health
    assert health["pool"]["ok"] and health["pool"]["candidates"] == 13


def test_the_demo_project_is_connected_and_its_queue_follows_the_backend(demo, ls, digits):
    project = _project(ls)
    backend_url = _printed(demo, "backend")
    assert project["task_number"] == len(digits["tasks"]) == 400
    assert project["label_config"].strip() == digits["label_config"].strip()
    ml = _api(ls, "GET", "/api/ml/", params={"project": project["id"]})
    ml = ml["results"] if isinstance(ml, dict) else ml
    assert [m["url"].rstrip("/") for m in ml] == [backend_url]
    assert ml[0]["readable_state"] == "Connected", ml[0]
    hooks = _api(ls, "GET", "/api/webhooks/", params={"project": project["id"]})
    hooks = hooks["results"] if isinstance(hooks, dict) else hooks
    assert [h["url"] for h in hooks] == [backend_url + "/webhook"]
    # connected with basic auth, and the webhook carries the same login (Label Studio would send it bare)
    assert ml[0]["auth_method"] == "BASIC_AUTH" and ml[0]["basic_auth_user"] == ls["admin"]["backend_user"]
    assert hooks[0]["headers"] == {"Authorization": _basic_header(ls)}
    assert requests.get(backend_url + "/rankings", params={"project": project["id"]}, timeout=30).status_code == 401
    ranking = requests.get(backend_url + "/rankings", params={"project": project["id"]}, timeout=30,
                           auth=_backend_login(ls)).json()
    assert ranking["tasks"] == 400 and len(ranking["candidates"]) == 13
    assert project["sampling"] == "Uncertainty sampling"
    assert project["model_version"] == ranking["model_version"] != ""
    block = _ranking_block(project["description"])
    assert ranking["candidates"][0]["name"] in block and "Labels used: 0" in block
    # what "Label All Tasks" serves first: the task the backend gave the lowest score under that version
    rows = _api(ls, "GET", "/api/predictions/", params={"project": project["id"]})
    rows = rows["results"] if isinstance(rows, dict) else rows
    scores = {int(r["task"]): float(r["score"]) for r in rows if r["model_version"] == project["model_version"]}
    assert 0 < len(scores) <= 100  # MODELPICKER_PUSH_LIMIT's default
    served = _api(ls, "GET", f"/api/projects/{project['id']}/next/")
    assert scores[int(served["id"])] == min(scores.values())


def test_a_second_run_prints_the_same_instructions(demo):
    again = subprocess.run([backend_python(), "-m", "demo", "run", *demo["args"]], cwd=REPO_ROOT, text=True,
                           capture_output=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout and HEADLINE in again.stdout
    for label in ("Label Studio", "login", "password", "backend"):
        first = re.search(rf"^\s+{label}\s+(\S+)", demo["run"].output, re.MULTILINE).group(1)
        second = re.search(rf"^\s+{label}\s+(\S+)", again.stdout, re.MULTILINE).group(1)
        assert first == second, label
    assert demo["run"].process.poll() is None, "the second run must not disturb the first"


def test_labels_change_the_ranking(demo, ls, digits):
    project = _project(ls)
    backend_url = _printed(demo, "backend")
    before = _settled_ranking(backend_url, ls, project["id"], 0)
    block_before = _ranking_block(project["description"])
    for n in range(1, N_LABELS + 1):
        task = _api(ls, "GET", f"/api/projects/{project['id']}/next/")
        label = digits["labels"][task["data"][digits["ref_field"]]]
        _api(ls, "POST", f"/api/tasks/{task['id']}/annotations/",
             json={"result": [{"from_name": "digit", "to_name": "image", "type": "choices",
                               "value": {"choices": [label]}}]})
        after = _settled_ranking(backend_url, ls, project["id"], n)
    described = _api(ls, "GET", f"/api/projects/{project['id']}/")
    assert after["model_version"] != before["model_version"]
    assert described["model_version"] == after["model_version"]
    assert after["candidates"] != before["candidates"]
    assert sum(c["labels"] for c in after["candidates"]) > sum(c["labels"] for c in before["candidates"]) == 0
    block_after = _ranking_block(described["description"])
    assert block_after != block_before and f"Labels used: {N_LABELS}" in block_after


def test_ctrl_c_stops_every_process_it_started(demo):
    servers = demo["servers"]
    assert servers and all(_pid_alive(int(s["pid"])) for s in servers)
    code = demo["run"].ctrl_c()
    assert code == 0, demo["run"].output[-3000:]
    assert "stopping everything this demo started" in demo["run"].output
    for server in servers:
        assert not _pgid_alive(int(server["pid"])), f"{server['name']} (process group {server['pid']}) survived"
    assert not (demo["demo_dir"] / "stack.json").exists()
    for port in demo["ports"].values():
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on port {port}"


def test_a_run_after_ctrl_c_reuses_the_project_and_the_login_and_moves_the_connection(demo, ls):
    """The next ``make run`` on the same state: same project, login and token; a backend on another port
    (the old one taken) replaces the old connection and its webhook."""
    assert demo["run"].process.poll() is not None, "runs after test_ctrl_c_stops_every_process_it_started"
    new_backend_port = free_port(demo["ports"]["backend"] + 1, BACKEND_PORTS[1])
    args = list(demo["args"])
    args[args.index("--backend-port") + 1] = str(new_backend_port)
    again, servers = DemoProcess(args), []
    try:
        again.wait_for("Press Ctrl-C", READY_TIMEOUT)
        assert "from an earlier run" in again.output
        servers = json.loads((demo["demo_dir"] / "stack.json").read_text())["servers"]
        url = re.search(r"^\s+Label Studio\s+(\S+)", again.output, re.MULTILINE).group(1)
        assert url == ls["url"], "the stopped demo's port is free again: the same one is used"
        project = _project(ls)  # exactly one demo project, still with its tasks and labels
        assert project["task_number"] == 400 and project["num_tasks_with_annotations"] == N_LABELS
        backend_url = f"http://127.0.0.1:{new_backend_port}"
        assert re.search(rf"^\s+backend\s+{re.escape(backend_url)}\s", again.output, re.MULTILINE)
        assert re.search(rf"^\s+password\s+{re.escape(ls['admin']['password'])}$", again.output, re.MULTILINE)
        ml = _api(ls, "GET", "/api/ml/", params={"project": project["id"]})
        ml = ml["results"] if isinstance(ml, dict) else ml
        assert [m["url"].rstrip("/") for m in ml] == [backend_url]
        hooks = _api(ls, "GET", "/api/webhooks/", params={"project": project["id"]})
        hooks = hooks["results"] if isinstance(hooks, dict) else hooks
        assert [h["url"] for h in hooks] == [backend_url + "/webhook"]
        kept = json.loads((demo["demo_dir"] / "admin.json").read_text())
        assert kept["personal_token"] == ls["admin"]["personal_token"]
        assert hooks[0]["headers"] == {"Authorization": _basic_header(ls)}
        assert kept["backend_password"] == ls["admin"]["backend_password"]
        health = requests.get(backend_url + "/health", timeout=30, auth=_backend_login(ls)).json()
        assert health["label_studio"]["ok"] and health["label_studio"]["token"] == "personal access token"
        ranking = _settled_ranking(backend_url, ls, project["id"], N_LABELS)
        assert f"Labels used: {N_LABELS}" in _ranking_block(_api(ls, "GET", f"/api/projects/{project['id']}/")
                                                             ["description"])
        assert ranking["labels"] == N_LABELS
    finally:
        code = again.ctrl_c()
    assert code == 0, again.output[-3000:]
    for server in servers:
        assert not _pgid_alive(int(server["pid"])), f"{server['name']} survived"
