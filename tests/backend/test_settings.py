"""Settings from the environment: defaults, every bad value named, strategy fallback."""
from __future__ import annotations

from pathlib import Path

import pytest

from backend.settings import SettingsError, check_bind, from_env, resolve_strategy


def test_defaults_are_label_studio_ml_like_but_on_loopback():
    s = from_env({})
    assert (s.host, s.port, s.log_level, s.redis_url) == ("127.0.0.1", 9090, "INFO", None)
    assert not s.allow_unauthenticated and s.allowed_hosts == () and s.loopback_only
    assert s.model_dir == Path("model_dir") and s.db_path == Path("model_dir") / "modelpicker.sqlite3"
    assert s.pool_path is None and s.strategy is None and not s.show_best and not s.auth_enabled


def test_every_variable_is_read():
    s = from_env({"MODELPICKER_POOL": "/x/pool.yaml", "MODEL_DIR": "/data", "MODELPICKER_STRATEGY": "modelpicker",
                  "MODELPICKER_SEED": "5", "MODELPICKER_SHOW_BEST": "true", "LABEL_STUDIO_URL": "http://ls:8080",
                  "LABEL_STUDIO_API_KEY": "abc", "BASIC_AUTH_USER": "u", "BASIC_AUTH_PASS": "p",
                  "LOG_LEVEL": "debug", "REDIS_URL": "redis://127.0.0.1:6379/0", "RQ_QUEUE_NAME": "q",
                  "HOST": "127.0.0.1", "PORT": "19101", "MODELPICKER_MAX_BODY_MB": "5"})
    assert s.pool_path == Path("/x/pool.yaml") and s.model_dir == Path("/data")
    assert (s.strategy, s.seed, s.show_best) == ("modelpicker", 5, True)
    assert (s.label_studio_url, s.label_studio_api_key) == ("http://ls:8080", "abc")
    assert (s.basic_auth_user, s.basic_auth_pass, s.auth_enabled) == ("u", "p", True)
    assert (s.log_level, s.redis_url, s.redis_queue, s.host, s.port) == (
        "DEBUG", "redis://127.0.0.1:6379/0", "q", "127.0.0.1", 19101)
    assert s.max_body_mb == 5


def test_label_studio_host_is_accepted_as_the_url():
    assert from_env({"LABEL_STUDIO_HOST": "http://h:1"}).label_studio_url == "http://h:1"


@pytest.mark.parametrize("env, named", [
    ({"PORT": "ninety"}, "PORT"),
    ({"PORT": "70000"}, "PORT"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ({"MODELPICKER_SEED": "-1"}, "MODELPICKER_SEED"),
    ({"MODELPICKER_SHOW_BEST": "maybe"}, "MODELPICKER_SHOW_BEST"),
    ({"BASIC_AUTH_USER": "u"}, "BASIC_AUTH_PASS"),
    ({"BASIC_AUTH_PASS": "p"}, "BASIC_AUTH_USER"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
    ({"MODELPICKER_ALLOW_UNAUTHENTICATED": "perhaps"}, "MODELPICKER_ALLOW_UNAUTHENTICATED"),
    ({"MODELPICKER_ALLOWED_HOSTS": "http://example.org/"}, "MODELPICKER_ALLOWED_HOSTS"),
])
def test_bad_values_name_the_variable(env, named):
    with pytest.raises(SettingsError, match=named):
        from_env(env)


def test_explicit_strategy_must_be_registered():
    assert resolve_strategy("modelpicker", ["modelpicker"]) == "modelpicker"
    with pytest.raises(SettingsError, match="MODELPICKER_STRATEGY='nope'.*available: modelpicker"):
        resolve_strategy("nope", ["modelpicker"])


def test_the_default_strategy_is_certified_and_must_be_registered():
    assert resolve_strategy(None, ["certified", "consensus", "model_selector"]) == "certified"
    with pytest.raises(SettingsError, match="'certified' is not a registered strategy; available: none"):
        resolve_strategy(None, [])


def test_allowed_hosts_are_a_lower_case_list():
    s = from_env({"MODELPICKER_ALLOWED_HOSTS": " ML.example.org, backend2 ,"})
    assert s.allowed_hosts == ("ml.example.org", "backend2")
    assert from_env({"MODELPICKER_ALLOWED_HOSTS": "*"}).allowed_hosts == ("*",)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2", "::ffff:127.0.0.1"])
def test_loopback_needs_no_credentials(host):
    check_bind(from_env({"HOST": host}))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "backend.example.org", "::ffff:10.0.0.1"])
def test_other_addresses_need_credentials_or_an_explicit_opt_out(host):
    with pytest.raises(SettingsError) as caught:
        check_bind(from_env({"HOST": host}))
    assert str(caught.value).startswith(f"refusing to listen on {host} without credentials")
    assert "BASIC_AUTH_USER" in str(caught.value) and "MODELPICKER_ALLOW_UNAUTHENTICATED" in str(caught.value)
    check_bind(from_env({"HOST": host, "BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "pw"}))
    check_bind(from_env({"HOST": host, "MODELPICKER_ALLOW_UNAUTHENTICATED": "true"}))
