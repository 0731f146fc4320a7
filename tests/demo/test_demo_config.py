"""demo.config: the settings every demo server gets (loopback, nothing sent off the machine) and port choice."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from demo import config


def test_label_studio_runs_on_loopback_and_sends_nothing_out(tmp_path):
    paths = config.DemoPaths(tmp_path)
    env = config.label_studio_env(paths, {"PATH": "/bin", "VIRTUAL_ENV": "/x", "LABEL_STUDIO_SENTRY_DSN": "https://x"},
                           "admin@example.com", "secret-pw", "a" * 40)
    assert env["LABEL_STUDIO_BASE_DATA_DIR"] == str(tmp_path / "label-studio")
    assert env["ML_BLOCK_LOCAL_IP"] == "false" and env["SSRF_PROTECTION_ENABLED"] == "false"
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    # the caller's Sentry address is overridden; Label Studio reads the LABEL_STUDIO_ name first
    assert env["LABEL_STUDIO_SENTRY_DSN"] == "" and env["LABEL_STUDIO_FRONTEND_SENTRY_DSN"] == ""
    assert env["LABEL_STUDIO_COLLECT_ANALYTICS"] == "false" and env["LABEL_STUDIO_LATEST_VERSION_CHECK"] == "false"
    assert "VIRTUAL_ENV" not in env and env["PATH"] == "/bin"
    assert (env["LABEL_STUDIO_USERNAME"], env["LABEL_STUDIO_PASSWORD"], env["LABEL_STUDIO_USER_TOKEN"]) == \
        ("admin@example.com", "secret-pw", "a" * 40)
    assert set(config.NOTHING_LEAVES) | set(config.LOOPBACK_BACKEND) <= set(env)


def test_label_studio_command_binds_loopback_and_carries_no_secret():
    command = config.label_studio_command(Path("/venv/bin/label-studio"), 8123)
    assert command[:2] == ["/venv/bin/label-studio", "start"]
    assert command[command.index("--internal-host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "8123"
    assert not {"--password", "--user-token", "--username"} & set(command)


def test_backend_env_writes_back_and_uses_redis_only_when_given(tmp_path):
    paths = config.DemoPaths(tmp_path)
    inline = config.backend_env(paths, tmp_path / "pool.yaml", 9191, "http://127.0.0.1:8080", "t" * 40, None)
    assert inline["HOST"] == "127.0.0.1" and inline["PORT"] == "9191"
    assert inline["LABEL_STUDIO_URL"] == "http://127.0.0.1:8080" and inline["LABEL_STUDIO_API_KEY"] == "t" * 40
    assert inline["MODEL_DIR"] == str(tmp_path / "model_dir") and inline["MODELPICKER_WRITEBACK"] == "true"
    assert "REDIS_URL" not in inline and "BASIC_AUTH_USER" not in inline
    authed = config.backend_env(paths, tmp_path / "pool.yaml", 9191, "http://x:1", "t", None, ("modelpicker", "pw"))
    assert (authed["BASIC_AUTH_USER"], authed["BASIC_AUTH_PASS"]) == ("modelpicker", "pw")
    queued = config.backend_env(paths, tmp_path / "pool.yaml", 9191, "http://x:1", "t", "redis://127.0.0.1:6380/0")
    assert queued["REDIS_URL"] == "redis://127.0.0.1:6380/0" and queued["RQ_QUEUE_NAME"] == "modelpicker"
    worker = config.worker_command("redis://127.0.0.1:6380/0", "/venv/bin/python")
    assert worker[0] == "/venv/bin/rq" and "SimpleWorker" in " ".join(worker) and worker[-1] == "modelpicker"


def test_server_env_puts_the_venv_first_on_path():
    env = config.server_env({"PATH": "/usr/bin", "PYTHONPATH": "/x"}, {"A": 1}, Path("/ls/bin"))
    assert env == {"PATH": "/ls/bin:/usr/bin", "A": "1"}


def test_pick_port_takes_the_next_free_port_when_the_preferred_one_is_taken():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert not config.port_is_free(taken)
        chosen = config.pick_port(taken)
        assert chosen > taken and config.port_is_free(chosen)
    free = config.pick_port(chosen)
    assert free == chosen


@pytest.mark.parametrize("port", [0, 70000])
def test_pick_port_rejects_a_non_port(port):
    with pytest.raises(config.ConfigError, match=f"port {port} is not a TCP port"):
        config.pick_port(port)


def test_missing_example_names_the_files_and_the_command(tmp_path):
    (tmp_path / "pool.yaml").write_text("candidates: []\n")
    with pytest.raises(config.ConfigError) as info:
        config.Example(tmp_path).check()
    message = str(info.value)
    assert "tasks.json" in message and "label_config.xml" in message and "pool.yaml" not in message.split("lacks")[1]
    assert "make example" in message


def test_a_port_whose_server_just_stopped_counts_as_free():
    """A stopped server leaves connections in TIME_WAIT; the servers bind with SO_REUSEADDR, so must the check."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its end of the connection stays in TIME_WAIT
        client.close()
    assert config.port_is_free(port) and config.pick_port(port) == port
