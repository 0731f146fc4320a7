"""make compose-env: the secrets docker-compose.yml requires, random, kept, mode 0600, never printed."""
from __future__ import annotations

import re
import stat
from pathlib import Path

import yaml

from demo.compose_env import SECRETS, ensure, main, names_in

ALL = sorted(SECRETS)
COMPOSE_PATH = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def test_every_secret_is_written_once_with_mode_0600(tmp_path, capsys):
    path = tmp_path / ".env"
    assert ensure(path) == ALL == ["BACKEND_DB_PASSWORD", "BACKEND_PASSWORD", "LS_DB_PASSWORD", "LS_PASSWORD",
                                   "LS_TOKEN", "POSTGRES_PASSWORD"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert re.fullmatch(r"[0-9a-f]{40}", values["LS_TOKEN"]) and len(values["BACKEND_PASSWORD"]) == 32
    for name in ("POSTGRES_PASSWORD", "LS_DB_PASSWORD", "BACKEND_DB_PASSWORD"):
        assert re.fullmatch(r"[A-Za-z0-9]{32}", values[name]), name  # safe in DATABASE_URL as written
    assert len(set(values.values())) == len(values)  # no two share a value
    before = path.read_text()
    assert main([str(path)]) == 0 and path.read_text() == before
    captured = capsys.readouterr()
    assert "already holds" in captured.out and not any(v in captured.out + captured.err for v in values.values())
    assert "warning" not in captured.err


def test_values_already_there_are_kept(tmp_path):
    path = tmp_path / ".env"
    path.write_text("# mine\nLS_PASSWORD=my-own\nPOOL=x")
    assert ensure(path) == [name for name in ALL if name != "LS_PASSWORD"]
    text = path.read_text()
    assert "LS_PASSWORD=my-own\n" in text and text.startswith("# mine\n")
    assert names_in(text) == {"POOL", *SECRETS}


def test_an_env_of_the_three_first_secrets_gets_the_database_passwords(tmp_path, capsys):
    """An .env made before PostgreSQL: its values stay, the three database passwords are added."""
    path = tmp_path / ".env"
    old = "LS_PASSWORD=a\nLS_TOKEN=" + "0" * 40 + "\nBACKEND_PASSWORD=b\n"
    path.write_text(old)
    assert main([str(path)]) == 0
    assert path.read_text().startswith(old)
    assert "added BACKEND_DB_PASSWORD, LS_DB_PASSWORD, POSTGRES_PASSWORD" in capsys.readouterr().out


def test_a_database_password_that_would_break_the_url_is_warned_about_without_its_value(tmp_path, capsys):
    path = tmp_path / ".env"
    path.write_text("BACKEND_DB_PASSWORD=p@ss/word\n")
    assert main([str(path)]) == 0
    err = capsys.readouterr().err
    assert "BACKEND_DB_PASSWORD" in err and "letters and digits" in err and "p@ss/word" not in err
    assert "BACKEND_DB_PASSWORD=p@ss/word\n" in path.read_text()  # kept: the user's choice


def test_the_secrets_are_exactly_the_variables_compose_requires():
    text = COMPOSE_PATH.read_text()
    yaml.safe_load(text)  # parses
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    assert required == set(SECRETS)
