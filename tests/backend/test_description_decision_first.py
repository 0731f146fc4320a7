"""The description block survives Label Studio's project card: the decision on the block's first line, the
link to the ranking page on the next (from the ML backend URL Label Studio has for the project), numbers
before names so they line up in a proportional font; candidates whose P(best) is Monte Carlo noise are
listed by accuracy."""
from __future__ import annotations

import pytest

from backend import page_link
from backend.decisions import LiveDecision, RoundDecision
from backend.description_block import BEGIN_MARKER, END_MARKER, FIGURE_SPACE, extract_block, write_ranking
from backend.display_order import display_order
from backend.labelstudio_errors import LabelStudioAPIError

RECORDS = [
    {"rank": 1, "name": "svc", "p_best": 0.9, "p_top": 0.9, "accuracy": 0.95, "accuracy_low": 0.9,
     "accuracy_high": 0.98, "labels": 12, "gap": 0.008},
    {"rank": 2, "name": "tree", "p_best": 0.097, "p_top": 0.097, "accuracy": 0.7, "accuracy_low": 0.6,
     "accuracy_high": 0.8, "labels": 12, "gap": 0.2},
    {"rank": 3, "name": "lucky_draw", "p_best": 0.002, "p_top": 0.002, "accuracy": 0.447, "accuracy_low": 0.3,
     "accuracy_high": 0.6, "labels": 12, "gap": 0.5},
    {"rank": 4, "name": "better", "p_best": 0.001, "p_top": 0.001, "accuracy": 0.552, "accuracy_low": 0.4,
     "accuracy_high": 0.7, "labels": 12, "gap": 0.4},
]


class FakeAPI:
    def __init__(self, backends=None, fail=False, url="http://ls.example:8080"):
        self.url, self.backends, self.fail, self.description, self.asked = url, backends or [], fail, "Admin", 0

    def ml_backends(self, project):
        self.asked += 1
        if self.fail:
            raise LabelStudioAPIError("GET", "/api/ml/", None, "connection refused")
        return self.backends

    def get_project(self, project):
        return {"id": project, "description": self.description}

    def set_description(self, project, description):
        self.description = description


@pytest.fixture(autouse=True)
def fresh_link_cache():
    page_link._cache.clear()
    yield
    page_link._cache.clear()


def decision(stop: bool) -> RoundDecision:
    live = LiveDecision(stop=stop, candidate="svc", p_best=0.9, p_top=0.9, gap=0.008, reason="certified",
                        reason_text="guaranteed", labels=12, rule="certified", confidence=None, epsilon=0.01,
                        delta=0.05, budget=None)
    return RoundDecision(live, 1, "stop" if stop else None, None)


def block_lines(api) -> list[str]:
    return extract_block(api.description).split("\n")


def test_first_line_is_the_decision_then_the_link():
    api = FakeAPI([{"id": 3, "title": "ModelPicker", "url": "http://user:secret@127.0.0.1:9090/"}])
    write_ranking(api, 7, RECORDS, decision(True), "certified")
    lines = block_lines(api)
    assert lines[0] == BEGIN_MARKER and lines[-1] == END_MARKER
    assert lines[1] == ("Decision: STOP LABELLING: svc chosen with P(best)=0.900, at most 0.8 points worse than "
                        "the best candidate (95%) (guaranteed)")
    assert lines[2] == "Ranking page (chart, history, downloads): http://127.0.0.1:9090/page?project=7"
    assert "secret" not in api.description and "user@" not in api.description
    assert api.description.startswith("Admin\n\n" + BEGIN_MARKER)      # the admin's text is kept
    assert "Decision: keep labelling" in (write_ranking(api, 7, RECORDS, decision(False), "certified"))
    assert api.asked == 1                                             # the URL is kept, not asked per refresh


def test_no_link_without_a_url_to_trust():
    for api in (FakeAPI([]), FakeAPI(fail=True),
                FakeAPI([{"title": "a", "url": "http://10.0.0.1:9090"}, {"title": "b", "url": "http://x:1"}])):
        write_ranking(api, 1, RECORDS, decision(False), "certified")
        lines = block_lines(api)
        assert lines[1].startswith("Decision: keep labelling") and "Ranking page" not in api.description
        assert lines[2].startswith("Labels used: 12 |")


def test_several_backends_pick_the_one_named_modelpicker():
    answer = {"results": [{"title": "other", "url": "http://10.0.0.1:9000"},
                          {"title": "Model Picker", "url": "https://mp.example/ml/"}]}
    assert page_link.choose_backend_url(answer) == "https://mp.example/ml"
    assert page_link.choose_backend_url([{"url": "ftp://x"}]) is None
    assert page_link.clean_url("http://[::1]:9090/a/?q=1#f") == "http://[::1]:9090/a"


def test_numbers_first_and_figure_spaces_so_columns_line_up():
    api = FakeAPI()
    write_ranking(api, 1, RECORDS, decision(False), "certified")
    lines = block_lines(api)
    header = next(line for line in lines if line.startswith("rank"))
    assert header.endswith("candidate") and "at most (pts)" in header
    rows = [line for line in lines if line.split() and line.split()[0].isdigit()]
    assert [row.split()[-1] for row in rows] == ["svc", "tree", "better", "lucky_draw"]
    # the numbers take the same characters on every row: digits and figure spaces, the name last
    widths = {len(row) - len(row.split()[-1]) for row in rows}
    assert len(widths) == 1 and all(row.startswith(FIGURE_SPACE * 3) for row in rows)
    # the bound's column ends where its header does (what a parser of the table reads)
    column = header.index("at most (pts)") + len("at most (pts)")
    assert [float(row[:column].split()[-1]) for row in rows] == [0.8, 20.0, 40.0, 50.0]
    assert any("lower = label first" in line for line in lines)


def test_noise_level_p_best_is_ordered_by_accuracy():
    shown = display_order(RECORDS)
    assert [r["name"] for r in shown] == ["svc", "tree", "better", "lucky_draw"]
    assert [r["shown_rank"] for r in shown] == [1, 2, 3, 4] and [r["rank"] for r in shown] == [1, 2, 4, 3]
    assert [r["resolved"] for r in shown] == [True, True, False, False]
    # the leader keeps rank 1 even when every P(best) is small (hundreds of candidates)
    many = [dict(RECORDS[3], name="leader", p_best=0.009, p_top=0.009, accuracy=0.1)] + RECORDS[2:]
    assert display_order(many)[0]["name"] == "leader"
