"""The label space: exactly one single-answer Choices control with >= 2 Choices."""
from __future__ import annotations

import pytest

from backend.labelconfig import LabelConfigError, parse_choices


def test_choice_order_is_the_class_order(events):
    c = parse_choices(events.config)
    assert (c.name, c.to_name, c.values, c.n_classes) == ("label", "text", ("zero", "one", "two"), 3)
    assert [c.index(v) for v in ("zero", "one", "two")] == [0, 1, 2]
    with pytest.raises(KeyError):
        c.index("three")


def test_nested_views_and_aliases():
    c = parse_choices('<View><Image name="img" value="$image"/><View><Choices name="c" toName="img,other">'
                      '<Choice value="Cat" alias="c"/><Choice value="Dog"/></Choices></View></View>')
    assert (c.name, c.to_name, c.values) == ("c", "img", ("Cat", "Dog"))
    assert "c" in c and c.index("c") == 0 and c.canonical("c") == "Cat"


@pytest.mark.parametrize("config, message", [
    ('<View><Text name="t" value="$t"/></View>', "exactly one <Choices> control, found none"),
    ('<View><Text name="t" value="$t"/><Choices name="a" toName="t"><Choice value="x"/><Choice value="y"/>'
     '</Choices><Choices name="b" toName="t"><Choice value="x"/><Choice value="y"/></Choices></View>',
     r"exactly one <Choices> control, found 2 \('a', 'b'\)"),
    ('<View><Choices name="a" toName="t" choice="multiple"><Choice value="x"/><Choice value="y"/></Choices></View>',
     "one answer per task"),
    ('<View><Choices name="a" toName="t"><Choice value="x"/></Choices></View>', "at least two"),
    ('<View><Choices name="a" toName="t"><Choice value="x"/><Choice value="x"/></Choices></View>', "twice"),
    ('<View><Choices toName="t"><Choice value="x"/><Choice value="y"/></Choices></View>', "name and a toName"),
    ('<View><Choices name="a" toName="t"><Choice/><Choice value="y"/></Choices></View>', "without a value"),
    ('<View><Choices', "not valid XML"),
    ('', "empty"),
    ('<!DOCTYPE v [<!ENTITY a "aaaa">]><View/>', "DOCTYPE"),
])
def test_unusable_configs_are_named(config, message):
    with pytest.raises(LabelConfigError, match=message):
        parse_choices(config)


# ------------------------------------------------------------------ limits (issue 11)
from backend.labelconfig import MAX_CHOICES, MAX_CONFIG_CHARS  # noqa: E402


def _config(n_choices: int, padding: int = 0) -> str:
    return ('<View><Text name="t" value="$x"/><Choices name="c" toName="t">'
            + "".join(f'<Choice value="v{i}"/>' for i in range(n_choices))
            + "</Choices>" + " " * padding + "</View>")


def test_the_choice_limit_is_inclusive_and_named():
    assert parse_choices(_config(MAX_CHOICES)).n_classes == MAX_CHOICES
    with pytest.raises(LabelConfigError) as caught:
        parse_choices(_config(MAX_CHOICES + 1))
    assert str(caught.value) == "label config has 1,001 <Choice> tags; at most 1,000 are accepted (MAX_CHOICES)"


def test_the_length_limit_is_checked_before_parsing(monkeypatch):
    import backend.labelconfig as labelconfig

    def no_parse(*_):
        raise AssertionError("parsed a config over the limit")

    monkeypatch.setattr(labelconfig.ET, "fromstring", no_parse)
    with pytest.raises(LabelConfigError) as caught:
        parse_choices(_config(3, padding=MAX_CONFIG_CHARS))
    assert "at most 1,000,000 are accepted (MAX_CONFIG_CHARS)" in str(caught.value)
    with pytest.raises(LabelConfigError, match="MAX_CHOICES"):
        parse_choices(_config(2_000))


def test_setup_with_many_choices_gets_422_naming_the_limit(backend_factory):
    b = backend_factory()
    r = b.post("/setup", {"project": "7.1700000000", "schema": _config(10_000)})
    assert r.status_code == 422
    assert r.get_json()["error"] == "label config has 10,000 <Choice> tags; at most 1,000 are accepted (MAX_CHOICES)"
    r = b.post("/setup", {"project": "7.1700000000", "schema": _config(50_000)})  # the case: 1.2 MB
    assert r.status_code == 422 and "(MAX_CONFIG_CHARS)" in r.get_json()["error"]
    r = b.post("/setup", {"project": "7.1700000000", "schema": _config(3, padding=2 * MAX_CONFIG_CHARS)})
    assert r.status_code == 422 and "MAX_CONFIG_CHARS" in r.get_json()["error"]
