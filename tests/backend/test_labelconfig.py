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
