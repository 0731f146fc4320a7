"""The ranking page, GET /page?project=ID: server-rendered HTML with the decision first, what to deploy and
how to export it, the ranking, what each count counts, the chart and the downloads; escaped; 4xx for bad
input; behind basic auth like every route."""
from __future__ import annotations

import base64
import html
import re

import pytest

from backend.export import FILES
from backend.ranking_page import render_page

USER, PASSWORD = "admin-user", "pw-not-in-any-page-42"


def labelled(b, events, truth, n: int):
    assert b.webhook(events.tasks_created(*range(1, 31))).status_code == 200
    for i, task in enumerate(range(1, n + 1)):
        assert b.webhook(events.created(100 + i, task, events.choices[truth[task - 1]])).status_code == 200


def text_of(page: str) -> str:
    """The page's visible text, tags removed, whitespace collapsed."""
    body = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def get_page(b, query: str = "?project=1", **kw):
    response = b.client.get(f"/page{query}", **kw)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def test_the_page_shows_decision_deploy_ranking_counts_chart_and_downloads(backend, events, truth):
    labelled(backend, events, truth, 6)
    page = get_page(backend)
    text = text_of(page)
    ranking = backend.ranking()
    live = ranking["decision"]
    # the decision comes first, with the certified bound of the named candidate
    assert page.index('<h1 class="go">Keep labelling</h1>') < page.index("<table") < page.index("<img")
    assert f"{live['candidate']} is at most {100 * live['gap']:.1f} points worse than the best candidate (95%)" \
        in text
    # what to deploy, where it comes from in the pool, how to export it
    assert "If you had to deploy now" in text and "pool.yaml, source type: predictions" in text
    assert "<code>path: good.csv</code>" in page
    assert "python -m backend export --project 1 --out DIR" in text
    for name in FILES:
        assert f'href="export?project=1&amp;file={name}"' in page
    # the table: every candidate with its P(best), bound and accuracy interval, in the shown order
    rows = re.findall(r'<td class="name">([^<]+)</td><td>([0-9.]+)</td>', page)
    assert [name for name, _ in rows] == [c["name"] for c in ranking["candidates"]]
    for c in ranking["candidates"]:
        assert f"{c['accuracy']:.3f} ({c['accuracy_low']:.3f}-{c['accuracy_high']:.3f})" in text
        assert f"{100 * c['gap']:.1f} pts" in text
    # the counts say what they count
    assert "Labels used: 6 labelled tasks of this round" in text and "Annotations: 6" in text
    assert "Round: 1 of 1" in text and "Refreshes recorded: 7" in text
    assert "lower = label first" in text
    # the chart and the downloads, relative links
    assert '<img src="page/chart.png?project=1&amp;round=1"' in page
    for link in ("rankings?project=1", "rounds?project=1", "jobs?project=1"):
        assert f'href="{link}"' in page
    assert "<script" not in page.lower()


def test_after_a_stop_the_page_says_deploy_and_when_the_stop_was_recorded(backend_factory, events, truth):
    b = backend_factory(MODELPICKER_STOP_RULE="belief", MODELPICKER_CONFIDENCE="0.5", MODELPICKER_PATIENCE="1")
    assert b.post("/setup", {"project": 1, "schema": events.config}).status_code == 200
    labelled(b, events, truth, 14)
    rounds = b.client.get("/rounds?project=1").get_json()["rounds"][0]
    recorded = rounds["decisions"][-1]
    live = b.ranking()["decision"]
    text = text_of(get_page(b))
    assert live["stop"] and recorded["state"] == "stop"
    assert text.startswith("STOP LABELLING") and "Deploy this" in text and "If you had to" not in text
    assert f"STOP LABELLING: {live['candidate']} chosen with P(best)={live['p_best']:.3f}" in text
    # the count /rounds shows is the labels when the rule's answer changed; the page says so, and the labels now
    assert f"Decision recorded ({recorded['state']}): at {recorded['labels']} labels" in text
    assert "Labels used: 14 labelled tasks" in text and recorded["labels"] < 14


def test_names_and_paths_are_escaped():
    context = {
        "project": 1, "round": 1, "stop": True, "headline": "STOP LABELLING",
        "decision_line": "STOP LABELLING: <script>alert(1)</script> chosen", "bound_sentence": "a & b",
        "level_text": "95%", "up_to_date": True, "stale_note": "", "chosen": "<script>alert(1)</script>",
        "chosen_row": None, "pool_file": "pool<1>.yaml", "source": [("path", '"><img src=x onerror=alert(1)>')],
        "files": FILES, "ties": False, "noise": False, "resolved_p": 0.01, "counts": [("<b>", 1, "&")],
        "rows": [{"name": "<script>alert(1)</script>", "shown_rank": 1, "resolved": True, "p_best_text": "1.000",
                  "p_top_text": "1.000", "gap_text": "0.0 pts", "accuracy_text": "0.9", "labels": 3}],
        "history_rows": 0, "chart_width": 900, "strategy": "certified", "model_version": "v<1>",
        "made_at": "now",
    }
    page = render_page(context)
    assert "<script>" not in page and "<img src=x" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "v&lt;1&gt;" in page and "pool&lt;1&gt;.yaml" in page


@pytest.mark.parametrize("query, status, message", [
    ("", 400, "query parameter 'project' is required, e.g. /page?project=12"),
    ("?project=", 400, "query parameter 'project' is required"),
    ("?project=abc", 400, "'project' must be a project id"),
    ("?project=-1", 400, "'project' must be a project id"),
    ("?project=77", 404, "project 77 is unknown to this backend"),
])
def test_bad_input_is_a_4xx_naming_it(backend, query, status, message):
    response = backend.client.get(f"/page{query}")
    assert response.status_code == status and message in response.get_json()["error"]


@pytest.mark.parametrize("query, status, message", [
    ("", 400, "query parameter 'project' is required, e.g. /page/chart.png?project=12"),
    ("?project=x1", 400, "'project' must be a project id"),
    ("?project=77", 404, "project 77 is unknown to this backend"),
    ("?project=1&round=0", 400, "'round'"),
    ("?project=1&round=two", 400, "'round'"),
    ("?project=1&round=2", 404, "project 1 has no round 2 (current round: 1)"),
])
def test_chart_bad_input_is_a_4xx_naming_it(backend, query, status, message):
    response = backend.client.get(f"/page/chart.png{query}")
    assert response.status_code == status and message in response.get_json()["error"]


def test_without_a_pool_the_page_is_a_503_naming_why(backend_factory, tmp_path):
    b = backend_factory(MODELPICKER_POOL=str(tmp_path / "missing.yaml"))
    response = b.client.get("/page?project=1")
    assert response.status_code == 503 and "candidate pool unusable" in response.get_json()["error"]


def test_page_and_chart_ask_for_credentials_and_show_none(backend_factory, events, truth):
    b = backend_factory(BASIC_AUTH_USER=USER, BASIC_AUTH_PASS=PASSWORD)
    good = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    wrong = {"Authorization": "Basic " + base64.b64encode(f"{USER}:nope".encode()).decode()}
    assert b.client.post("/setup", json={"project": 1, "schema": events.config}, headers=good).status_code == 200
    for path in ("/page?project=1", "/page/chart.png?project=1", "/page?project=77", "/page"):
        for headers in ({}, wrong):
            response = b.client.get(path, headers=headers)
            assert response.status_code == 401, (path, response.status_code)
            assert response.headers["WWW-Authenticate"] == 'Basic realm="modelpicker"'
    page = b.client.get("/page?project=1", headers=good)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert PASSWORD not in body and USER not in body
    assert b.client.get("/page/chart.png?project=1", headers=good).status_code == 200
