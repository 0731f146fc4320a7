"""``python -m backend`` refuses bad settings with a message and exit code 2 (run in-process here;
test_restart.py starts the real process)."""
from __future__ import annotations

import pytest

from backend.__main__ import main


@pytest.mark.parametrize("env, message", [
    ({"MODELPICKER_POOL": "{tmp}/none.yaml"}, "backend: candidate pool unusable: pool file {tmp}/none.yaml: cannot read"),
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
