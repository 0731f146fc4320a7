"""backend.hint_sweeper: the start-up check runs once, then the sweep repeats until stopped, and survives errors."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from backend import hint_sweeper


class Service:
    def __init__(self, configured=True):
        self.settings = SimpleNamespace(label_studio_configured=configured)
        self.calls = []
        self.swept = threading.Event()

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
