"""GET /page/chart.png: a real PNG of each candidate's P(best) (and certified bound) against the labels, drawn
from the belief history the store keeps at every refresh."""
from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image

from backend.pbest_chart import HEIGHT, HEIGHT_TWO_PANELS, WIDTH, _ordered, chart_png, split_named


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def coloured_pixels(data: bytes) -> int:
    """Pixels clearly not grey (a drawn candidate line or marker)."""
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 60).sum())


def test_the_chart_of_a_labelled_round_is_a_png_with_both_panels(backend, events, truth):
    assert backend.webhook(events.tasks_created(*range(1, 31))).status_code == 200
    for i, task in enumerate(range(1, 7)):
        assert backend.webhook(events.created(100 + i, task, events.choices[truth[task - 1]])).status_code == 200
    assert len(backend.service.store.belief_history(1, 1)) == 7
    response = backend.client.get("/page/chart.png?project=1")
    assert response.status_code == 200 and response.mimetype == "image/png"
    data = response.get_data()
    assert png_size(data) == (WIDTH, HEIGHT_TWO_PANELS)   # P(best) and the certified bound
    Image.open(io.BytesIO(data)).verify()                 # a whole, decodable PNG
    assert coloured_pixels(data) > 500                    # lines were drawn
    assert backend.client.get("/page/chart.png?project=1&round=1").get_data() == data


def test_a_round_without_history_gets_a_chart_saying_so(backend):
    response = backend.client.get("/page/chart.png?project=1")   # set up, no refresh yet
    assert response.status_code == 200
    assert png_size(response.get_data()) == (WIDTH, HEIGHT)
    assert coloured_pixels(response.get_data()) == 0


def test_a_past_round_keeps_its_chart(backend, events, truth):
    assert backend.webhook(events.tasks_created(*range(1, 31))).status_code == 200
    for i, task in enumerate(range(1, 4)):
        assert backend.webhook(events.created(100 + i, task, events.choices[truth[task - 1]])).status_code == 200
    before = backend.client.get("/page/chart.png?project=1&round=1").get_data()
    assert backend.client.post("/rounds?project=1", json={}).status_code == 200
    assert [r["labels"] for r in backend.service.store.belief_history(1, 2)] == [0]
    assert backend.client.get("/page/chart.png?project=1&round=1").get_data() == before
    assert backend.client.get("/page/chart.png?project=1&round=2").status_code == 200


def test_many_candidates_name_the_first_five_and_grey_the_rest():
    names = [f"m{i:02d}" for i in range(13)]
    history = [{"labels": n, "candidates": names, "p_best": list(np.roll(np.linspace(0, 1, 13), n) / 6.5),
                "gap": None} for n in range(5)]
    data = chart_png(history, order=list(reversed(names)))
    assert png_size(data) == (WIDTH, HEIGHT)                 # no bound recorded: one panel
    named, grey = split_named(_ordered(names, {n: [0.1] for n in names}, list(reversed(names))))
    assert named == ["m12", "m11", "m10", "m09", "m08"] and len(grey) == 8
    assert split_named(names[:10]) == (names[:10], [])
    # without an order: by the latest P(best)
    p_best = {"a": [0.5, 0.1], "b": [0.2, 0.7], "c": [0.3, 0.2]}
    assert _ordered(["a", "b", "c"], p_best, None) == ["b", "c", "a"]
