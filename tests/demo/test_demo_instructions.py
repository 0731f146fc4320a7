"""demo.instructions: what the user reads once the demo is ready."""
from __future__ import annotations

from demo.instructions import HEADLINE, format_instructions

STATE = {"ls_url": "http://127.0.0.1:8080", "backend_url": "http://127.0.0.1:9090", "email": "admin@example.com",
         "password": "Secret123", "project": 4, "title": "Digits demo (ModelPicker)", "jobs": "rq",
         "logs": "/d/logs", "demo_dir": "/d"}


def test_url_login_project_and_what_to_click():
    text = format_instructions(STATE)
    assert HEADLINE in text
    for expected in ("http://127.0.0.1:8080", "admin@example.com", "Secret123", "/d/admin.json",
                     "http://127.0.0.1:8080/projects/4/data", "\"Label All Tasks\"", "project description",
                     "Ctrl-C", "Redis + one rq worker"):
        assert expected in text, expected


def test_inline_jobs_are_said_with_how_to_get_redis():
    text = format_instructions({**STATE, "jobs": "inline"})
    assert "inline" in text and "make redis" in text
