"""``python -m backend`` refuses bad settings with a message and exit code 2 (run in-process here;
test_restart.py starts the real process)."""
from __future__ import annotations

import pytest
import requests

from backend.__main__ import main


@pytest.mark.parametrize("env, message", [
    ({"MODELPICKER_POOL": "{tmp}/none.yaml"},
     "backend: candidate pool unusable: pool file {tmp}/none.yaml: cannot read"),
    ({"MODELPICKER_POOL": ""}, "backend: candidate pool unusable: MODELPICKER_POOL is not set"),
    ({"PORT": "http"}, "backend: PORT must be an integer, got 'http'"),
    ({"LOG_LEVEL": "chatty"}, "backend: LOG_LEVEL must be one of"),
    ({"MODELPICKER_STRATEGY": "nope"}, "backend: MODELPICKER_STRATEGY='nope' is not a registered strategy"),
])
def test_bad_start_settings_exit_2(monkeypatch, capsys, tmp_path, pool_dir, env, message):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MODELPICKER_POOL", str(pool_dir / "pool.yaml"))
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(tmp=tmp_path))
    assert main([]) == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err


def test_arguments_are_refused(capsys):
    assert main(["--port", "1"]) == 2
    assert "configure it with environment variables" in capsys.readouterr().err


# ------------------------------------------------------------------ the loopback rule (issue 11)
from tests.support import backend_process  # noqa: E402

REFUSAL = ("backend: refusing to listen on 0.0.0.0 without credentials: set BASIC_AUTH_USER and BASIC_AUTH_PASS "
           "(and enter them in Label Studio), or HOST=127.0.0.1, or MODELPICKER_ALLOW_UNAUTHENTICATED=true "
           "to serve other machines without authentication")


def test_python_m_backend_refuses_0_0_0_0_without_credentials(pool_dir, tmp_path, capsys):
    done = backend_process.run_to_exit("python", {"HOST": "0.0.0.0", "PORT": "19199",
                                                  "MODELPICKER_POOL": str(pool_dir / "pool.yaml"),
                                                  "MODEL_DIR": str(tmp_path / "state")})
    with capsys.disabled():
        print(f"\n[refusal python -m backend] exit {done.returncode}: {done.stderr.strip()}")
    assert done.returncode == 2 and done.stderr.strip() == REFUSAL
    assert not (tmp_path / "state").exists()  # refused before anything was opened


@pytest.mark.parametrize("env, extra", [({"HOST": "0.0.0.0", "PORT": "19198"}, ()),
                                        ({}, ("--bind", "0.0.0.0:19198"))])
def test_gunicorn_refuses_0_0_0_0_without_credentials(pool_dir, tmp_path, capsys, env, extra):
    done = backend_process.run_to_exit("gunicorn", {**env, "MODELPICKER_POOL": str(pool_dir / "pool.yaml"),
                                                    "MODEL_DIR": str(tmp_path / "state")}, extra=extra)
    with capsys.disabled():
        print(f"\n[refusal gunicorn {' '.join(extra) or 'HOST=0.0.0.0'}] exit {done.returncode}: "
              f"{[line for line in done.stderr.splitlines() if 'refusing' in line]}")
    assert done.returncode != 0
    assert REFUSAL in done.stderr
    assert "Booting worker" not in done.stderr


def test_the_start_line_says_who_may_call(pool_dir, tmp_path):
    base = {"MODELPICKER_POOL": str(pool_dir / "pool.yaml"), "MODEL_DIR": str(tmp_path / "state"),
            "MODELPICKER_STRATEGY": "modelpicker"}
    with backend_process.running("python", base, tmp_path / "open.log") as server:
        assert "authentication: off (no BASIC_AUTH_USER/BASIC_AUTH_PASS), so this backend serves this machine " \
               "only (127.0.0.1)" in server.log()
    with backend_process.running("python", {**base, "HOST": "0.0.0.0", "BASIC_AUTH_USER": "ls",
                                            "BASIC_AUTH_PASS": "pw-not-logged"}, tmp_path / "auth.log") as server:
        assert requests.get(server.url + "/health", timeout=30).status_code == 401
        log = server.log()
    assert "authentication: HTTP basic auth required on every route (user 'ls')" in log
    assert "pw-not-logged" not in log
