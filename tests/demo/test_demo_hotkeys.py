"""The digits demo's labelling config: the key an annotator presses is the digit chosen."""
from __future__ import annotations

import importlib.util
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _make_example():
    spec = importlib.util.spec_from_file_location(
        "digits_make_example_hotkeys", REPO_ROOT / "examples" / "digits" / "make_example.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_digit_choice_has_its_own_digit_as_hotkey():
    choices = ET.fromstring(_make_example().LABEL_CONFIG).findall(".//Choice")
    assert [c.get("value") for c in choices] == [str(d) for d in range(10)]
    assert all(c.get("hotkey") == c.get("value") for c in choices)  # Label Studio's default would be off by one
