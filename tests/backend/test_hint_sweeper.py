"""backend.hint_sweeper: the start-up check runs once, then the sweep repeats until stopped, and survives errors."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from backend import hint_sweeper


class Service:
    def __init__(self, configured=True, sync_every=0.0):
        self.settings = SimpleNamespace(label_studio_configured=configured, sync_every_seconds=sync_every)
        self.calls = []
        self.swept = threading.Event()

    def sync_all(self):
        self.calls.append("sync")
        if self.calls.count("sync") == 1:
            raise RuntimeError("disk I/O error")          # a failed sync does not end the loop either
        return {}

    def check_label_studio(self):
        self.calls.append("check")
        return {"ok": True}

    def sweep_unattended_hints(self):
        self.calls.append("sweep")
        if self.calls.count("sweep") == 1:
            raise RuntimeError("database is locked")      # a failed sweep does not end the loop
        if self.calls.count("sweep") >= 3:
            self.swept.set()
        return {}


def test_checks_once_then_sweeps_until_stopped():
    service, seen = Service(), []
    stop = hint_sweeper.start(service, interval=0.01, on_start=seen.append)
    assert service.swept.wait(10)
    stop.set()
    time.sleep(0.05)
    n = len(service.calls)
    time.sleep(0.1)
    assert len(service.calls) == n                        # stopped
    assert service.calls[0] == "check" and service.calls.count("check") == 1 and seen == [{"ok": True}]
    assert service.calls.count("sweep") >= 3


def test_without_label_studio_it_only_sweeps():
    service = Service(configured=False)
    stop = hint_sweeper.start(service, interval=0.01)
    assert service.swept.wait(10)
    stop.set()
    assert "check" not in service.calls


def test_the_periodic_sync_runs_at_the_first_sweep_then_every_period():
    service = Service(sync_every=0.05)
    stop = hint_sweeper.start(service, interval=0.01)
    try:
        assert service.swept.wait(10)
        deadline = time.monotonic() + 10
        while service.calls.count("sync") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
    sweeps_before_first_sync = service.calls.index("sync") - service.calls.index("sweep")
    assert sweeps_before_first_sync == 1                  # right after the first sweep
    assert service.calls.count("sync") >= 3
    assert service.calls.count("sweep") > service.calls.count("sync")  # every 0.05 s, not every 0.01 s sweep


def test_no_periodic_sync_without_label_studio_or_when_off():
    for service in (Service(configured=False, sync_every=0.01), Service(configured=True, sync_every=0.0)):
        stop = hint_sweeper.start(service, interval=0.01)
        assert service.swept.wait(10)
        stop.set()
        assert "sync" not in service.calls
