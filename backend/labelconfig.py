"""The label space of a Label Studio project, read from its labelling config.

ModelPicker needs one single-answer classification question per task, so the
config must hold exactly one ``<Choices>`` control.  Its ``<Choice>`` values, in
the order they appear, are the classes ``0 .. n_classes-1`` of the core.
"""
from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET

#: the longest label config accepted, in characters (Label Studio's own configs are a few kB; 1 MB
#: leaves room for long instructions while keeping a /setup's parse in milliseconds)
MAX_CONFIG_CHARS = 1_000_000
#: the most <Choice> tags accepted: the core keeps an n_classes-wide matrix per candidate, and
#: 50,000 choices made /setup take 51 s (issue 11); 1,000 classes is beyond any labelling UI
MAX_CHOICES = 1_000
_CHOICE_TAG = re.compile(r"<Choice[\s/>]")


class LabelConfigError(ValueError):
    """The labelling config cannot be used as ModelPicker's label space."""


@dataclasses.dataclass(frozen=True)
class ChoicesControl:
    """The one ``<Choices>`` control of a labelling config.

    Attributes
    ----------
    name : the control's ``name`` (the ``from_name`` of annotation results).
    to_name : the object tag it labels (the first of ``toName``).
    values : the Choice values in config order; ``values[k]`` is class ``k``.
    aliases : ``alias`` attribute -> Choice value, for Choices that have one.
    """

    name: str
    to_name: str
    values: tuple[str, ...]
    aliases: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.values)

    def index(self, value: str) -> int:
        """Class index of a Choice value (or alias); ``KeyError`` if it is none."""
        value = self.aliases.get(value, value)
        return self.values.index(value) if value in self.values else _raise_key(value)

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and (value in self.values or value in self.aliases)

    def canonical(self, value: str) -> str:
        """The Choice value for a value or alias."""
        return self.aliases.get(value, value)


def _raise_key(value: str) -> int:
    raise KeyError(value)


def parse_choices(label_config: str) -> ChoicesControl:
    """Find the single ``<Choices>`` control of ``label_config``.

    Raises
    ------
    LabelConfigError
        when the config is longer than :data:`MAX_CONFIG_CHARS` or has more
        than :data:`MAX_CHOICES` ``<Choice>`` tags (checked on the text, before
        parsing), when the XML does not parse, when there are zero or several Choices
        controls, when the control allows several answers, or when it has fewer
        than two distinct Choice values.
    """
    if not isinstance(label_config, str) or not label_config.strip():
        raise LabelConfigError("label config is empty")
    # the limits are checked on the raw text, before the XML parser (the expensive part) runs
    if len(label_config) > MAX_CONFIG_CHARS:
        raise LabelConfigError(f"label config is {len(label_config):,} characters long; at most "
                               f"{MAX_CONFIG_CHARS:,} are accepted (MAX_CONFIG_CHARS)")
    n_tags = len(_CHOICE_TAG.findall(label_config))
    if n_tags > MAX_CHOICES:
        raise LabelConfigError(f"label config has {n_tags:,} <Choice> tags; at most {MAX_CHOICES:,} are accepted "
                               f"(MAX_CHOICES)")
    if "<!DOCTYPE" in label_config or "<!ENTITY" in label_config:
        # Label Studio configs never declare entities; refusing them rules out entity expansion attacks.
        raise LabelConfigError("label config must not contain <!DOCTYPE> or <!ENTITY> declarations")
    try:
        root = ET.fromstring(label_config)
    except ET.ParseError as exc:
        raise LabelConfigError(f"label config is not valid XML: {exc}") from None
    controls = [el for el in root.iter() if el.tag == "Choices"]
    if len(controls) != 1:
        names = ", ".join(repr(c.get("name", "?")) for c in controls)
        found = f"{len(controls)} ({names})" if controls else "none"
        raise LabelConfigError(f"label config must have exactly one <Choices> control, found {found}")
    control = controls[0]
    name = control.get("name")
    to_name = (control.get("toName") or "").split(",")[0].strip()
    if not name or not to_name:
        raise LabelConfigError("the <Choices> control needs both a name and a toName attribute")
    if (control.get("choice") or "single").lower() not in ("single", "single-radio"):
        raise LabelConfigError(
            f"<Choices name={name!r}> must allow one answer per task, not choice={control.get('choice')!r}")
    values: list[str] = []
    aliases: dict[str, str] = {}
    for choice in control.iter("Choice"):
        value = choice.get("value")
        if value is None or value == "":
            raise LabelConfigError(f"<Choices name={name!r}> has a <Choice> without a value")
        if value in values:
            raise LabelConfigError(f"<Choices name={name!r}> lists the Choice {value!r} twice")
        values.append(value)
        if choice.get("alias"):
            aliases[choice.get("alias")] = value
    if len(values) < 2:
        raise LabelConfigError(f"<Choices name={name!r}> needs at least two <Choice> values, found {len(values)}")
    return ChoicesControl(name=name, to_name=to_name, values=tuple(values), aliases=aliases)
