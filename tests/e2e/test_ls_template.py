"""The migrated template each test's Label Studio starts from holds no user, token or project."""
from __future__ import annotations

import sqlite3

from tests.support.labelstudio import ensure_label_studio, ls_venv_path
from tests.support.ls_template import migrated_template


def test_the_template_is_migrated_and_holds_nothing_of_anyone():
    ensure_label_studio()
    template = migrated_template(ls_venv_path())
    assert template is not None and template.exists()
    with sqlite3.connect(f"file:{template}?mode=ro", uri=True) as db:
        applied = db.execute("SELECT COUNT(*) FROM django_migrations").fetchone()[0]
        users = db.execute("SELECT COUNT(*) FROM htx_user").fetchone()[0]
        tokens = db.execute("SELECT COUNT(*) FROM authtoken_token").fetchone()[0]
        projects = db.execute("SELECT COUNT(*) FROM project").fetchone()[0]
    assert applied > 100 and (users, tokens, projects) == (0, 0, 0)
