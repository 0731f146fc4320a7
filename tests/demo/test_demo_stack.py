"""demo.stack and demo.processes: one running demo per directory, leftovers recognised, groups stopped."""
from __future__ import annotations

import io
import os
import stat
import sys
import time

import pytest

from demo import processes, stack


def test_the_lock_admits_one_run_at_a_time(tmp_path):
    first = stack.try_lock(tmp_path / "run.lock")
    assert first is not None
    assert stack.try_lock(tmp_path / "run.lock") is None  # a second open file, as another process has
    first.close()
    again = stack.try_lock(tmp_path / "run.lock")
    assert again is not None
    again.close()


def test_state_round_trips_privately_and_garbage_is_no_stack(tmp_path):
    path = tmp_path / "stack.json"
    stack.write(path, {"ready": True, "password": "x"})
    assert stack.read(path) == {"ready": True, "password": "x"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("{half")
    assert stack.read(path) is None
    stack.clear(path)
    stack.clear(path)
    assert stack.read(path) is None


def test_leftovers_are_only_processes_that_still_run_with_the_recorded_start_time():
    me = {"name": "me", "pid": os.getpid(), "start_time": stack.start_time(os.getpid())}
    reused = {"name": "reused pid", "pid": os.getpid(), "start_time": me["start_time"] + 1}
    assert stack.leftovers({"servers": [me, reused, {"name": "broken"}]}) == [me]


def test_stop_ends_the_whole_process_group(tmp_path):
    server = processes.start("sleeper", ["sh", "-c", "sleep 60 & sleep 60 & wait"], dict(os.environ),
                             tmp_path / "sleeper.log", tmp_path)
    deadline = time.monotonic() + 10
    while len(os.popen(f"pgrep -g {server.pid}").read().split()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(os.popen(f"pgrep -g {server.pid}").read().split()) == 3
    processes.stop(server, grace=5)
    assert not processes.group_alive(server.pid)


def test_wait_until_shows_progress_and_names_what_timed_out():
    out = io.StringIO()
    with pytest.raises(processes.StartError, match="the thing not ready within 0 s"):
        processes.wait_until(lambda: None, "the thing", 0.3, out=out, every=0.1, interval=0.05)
    text = out.getvalue()
    assert text.startswith("[demo] waiting for the thing") and "..." in text
    calls = iter([None, None, {"ok": 1}])
    assert processes.wait_until(lambda: next(calls), "it", 5, out=io.StringIO(), interval=0.01) == {"ok": 1}


def test_wait_until_reports_a_server_that_died_with_its_log(tmp_path):
    server = processes.start("crasher", [sys.executable, "-c", "print('boom: port taken'); raise SystemExit(3)"],
                             dict(os.environ), tmp_path / "crasher.log", tmp_path)
    server.process.wait(10)
    with pytest.raises(processes.StartError) as info:
        processes.wait_until(lambda: None, "the crasher", 30, [server], out=io.StringIO())
    assert "crasher exited with code 3" in str(info.value) and "boom: port taken" in str(info.value)


def test_starting_a_missing_program_is_a_clear_error(tmp_path):
    with pytest.raises(processes.StartError, match="cannot start ghost"):
        processes.start("ghost", [str(tmp_path / "no-such-program")], dict(os.environ), tmp_path / "g.log", tmp_path)
