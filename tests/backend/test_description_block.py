"""The ranking block in the project description: rendering and merging."""
from __future__ import annotations

import numpy as np
import pytest

from backend.description_block import (
    BEGIN_MARKER,
    END_MARKER,
    KEEP_LABELLING,
    decision_text,
    extract_block,
    merge_description,
    render_ranking,
)
from modelpicker_core import Ranking

RANKING = [
    {"name": "good", "p_best": 0.912, "accuracy": 0.9, "accuracy_low": 0.78, "accuracy_high": 0.96, "labels": 42},
    {"name": "fair", "p_best": 0.07, "accuracy": 0.7, "accuracy_low": 0.55, "accuracy_high": 0.82, "labels": 42},
    {"name": "poor", "p_best": 0.018, "accuracy": 0.4, "accuracy_low": 0.26, "accuracy_high": 0.55, "labels": 42},
]


def block(decision: str = KEEP_LABELLING) -> str:
    return render_ranking(RANKING, decision, updated="2026-11-23 17:50 UTC", strategy="consensus")


def table_rows(text: str) -> list[list[str]]:
    """The table's rows, split into fields (figure spaces are whitespace to ``split``)."""
    return [line.split() for line in text.split("\n") if line.split() and line.split()[0].isdigit()]


def test_block_has_markers_rows_and_numbers():
    text = block()
    lines = text.split("\n")
    assert lines[0] == BEGIN_MARKER and lines[-1] == END_MARKER
    assert lines[1] == "Decision: keep labelling"     # the card's first lines show the decision
    assert "Labels used: 42 |" in lines[2]
    assert "consensus" in lines[2] and "2026-11-23 17:50 UTC" in lines[2]
    rows = table_rows(text)
    assert [row[-1] for row in rows] == ["good", "fair", "poor"]   # the name last: the numbers line up
    assert rows[0][:3] == ["1", "0.912", "0.900"] and rows[0][3] == "(0.780-0.960)"
    assert "" not in lines  # no blank line inside a block


def test_stop_decision_line():
    assert decision_text(False) == "keep labelling"
    line = decision_text(True, "good", 0.9704)
    assert line == "STOP LABELLING: good chosen with P(best)=0.970"
    assert decision_text(True, "good", 0.5,
                         reason="budget of 200 labels spent").endswith("(budget of 200 labels spent)")
    assert "Decision: STOP LABELLING: good chosen" in block(line)
    with pytest.raises(ValueError, match="chosen candidate"):
        decision_text(True)


def test_ranking_records_from_the_core_are_accepted():
    ranking = Ranking(p_best=np.array([0.2, 0.8]), accuracy=np.array([0.6, 0.9]),
                      accuracy_low=np.array([0.4, 0.7]), accuracy_high=np.array([0.8, 0.97]), labels=10)
    text = render_ranking(ranking.to_records(["a", "b"]), KEEP_LABELLING)
    assert [row[-1] for row in table_rows(text)] == ["b", "a"]


@pytest.mark.parametrize("change, message", [
    ({"name": ""}, "has no 'name'"),
    ({"p_best": float("nan")}, "non-finite p_best"),
    ({"labels": -1}, "labels=-1"),
    ({"labels": 2.5}, "labels=2.5"),
])
def test_bad_entries_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        render_ranking([{**RANKING[0], **change}], KEEP_LABELLING)


def test_missing_field_and_empty_ranking_are_errors():
    entry = dict(RANKING[0])
    del entry["accuracy_low"]
    with pytest.raises(ValueError, match="lacks accuracy_low"):
        render_ranking([entry], KEEP_LABELLING)
    with pytest.raises(ValueError, match="empty"):
        render_ranking([], KEEP_LABELLING)


def test_newline_in_a_name_cannot_break_the_block():
    text = render_ranking([{**RANKING[0], "name": "evil\n\nname"}], KEEP_LABELLING)
    assert "evil name" in text and "" not in text.split("\n")


def test_empty_description_becomes_the_block():
    assert merge_description(None, block()) == block()
    assert merge_description("", block()) == block()


def test_block_is_appended_after_the_admins_text():
    admin = "Label the sentiment of each tweet.\nAsk Ann if unsure.\n"
    merged = merge_description(admin, block())
    assert merged == "Label the sentiment of each tweet.\nAsk Ann if unsure.\n\n" + block()
    assert extract_block(merged) == block()


def test_existing_block_is_replaced_in_place_and_text_around_it_kept():
    old = render_ranking(RANKING[::-1], KEEP_LABELLING)
    description = f"Intro line\n\n{old}\n\nFooter written later"
    new = block(decision_text(True, "good", 0.97))
    merged = merge_description(description, new)
    assert merged == f"Intro line\n\n{new}\n\nFooter written later"
    # idempotent: writing the same block again changes nothing
    assert merge_description(merged, new) == merged


def test_missing_end_marker_ends_the_old_block_at_the_next_blank_line():
    old_without_end = "\n".join(render_ranking(RANKING, KEEP_LABELLING).split("\n")[:-1])
    description = f"Intro\n{old_without_end}\n\nAdmin paragraph after it"
    merged = merge_description(description, block())
    assert merged == f"Intro\n{block()}\n\nAdmin paragraph after it"


def test_missing_end_marker_at_the_end_of_the_text():
    old_without_end = "\n".join(render_ranking(RANKING, KEEP_LABELLING).split("\n")[:-1])
    assert merge_description(f"Intro\n{old_without_end}", block()) == f"Intro\n{block()}"


def test_duplicate_blocks_and_stray_end_lines_are_removed():
    description = f"A\n{block()}\nB\n{block()}\nC\n{END_MARKER}\nD"
    new = block(decision_text(True, "fair", 0.99))
    merged = merge_description(description, new)
    assert merged == f"A\n{new}\nB\nC\nD"
    assert merged.count(BEGIN_MARKER) == 1 and merged.count(END_MARKER) == 1


def test_windows_line_endings_are_understood():
    description = f"Intro\n{block()}".replace("\n", "\r\n")
    assert merge_description(description, block()) == f"Intro\n{block()}"


def test_merge_refuses_a_block_without_markers():
    with pytest.raises(ValueError, match="render_ranking"):
        merge_description("text", "not a block")


def test_extract_block_when_there_is_none():
    assert extract_block("just the admin's text") is None
    assert extract_block(None) is None


def test_p_top_gets_its_own_column_and_a_legend():
    ranking = [dict(RANKING[0], p_top=0.955), dict(RANKING[1], p_top=0.3), RANKING[2]]
    block = render_ranking(ranking, "keep labelling")
    lines = block.splitlines()
    assert "P(a best)" in lines[3]
    rows = table_rows(block)
    assert rows[0][1:3] == ["0.912", "0.955"]
    assert rows[2][1:3] == ["0.018", "0.018"]  # no p_top: the same as P(best)
    assert any(line.startswith("P(best): probability of being the best") for line in lines)
    assert "P(a best)" not in render_ranking(RANKING, "keep labelling")
