"""benchmarks/shift_collections.py: real candidates after a distribution shift, where the majority is often wrong.

The collections are built small (``SCALE``: a tenth of the batch, a fifth of
the training slices; the cheap cancer collection at full size) so the file
runs in about half a minute of CPU; the full-size figures are in
benchmarks/README.md ("Shifted collections").
"""
import hashlib
import json

import numpy as np
import pytest

from benchmarks import shift_collections as sc
from modelpicker_core.loaders import load_collection
from modelpicker_core.synth import majority_vote

SCALE = 0.1
#: the cancer collection is cheap to fit and its batch tiny at SCALE, so it is built at full size
SCALES = {name: 1.0 if name == "shift-cancer-recalibrated" else SCALE for name in sc.COLLECTIONS}
FILES = ("predictions.npy", "oracle.npy", "labelspace.npy", "models.json", "summary.json")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("shift")
    summaries = {name: sc.write(name, out, seed=0, scale=SCALES[name]) for name in sc.COLLECTIONS}
    return out, summaries


def digest(directory):
    return {f: hashlib.sha256((directory / f).read_bytes()).hexdigest() for f in FILES}


def test_registry_covers_two_data_sets_and_two_shifts_each():
    names = list(sc.COLLECTIONS)
    assert len(names) >= 4
    assert {"shift-digits-rotate", "shift-digits-occlude", "shift-tabular-subpop", "shift-tabular-prior"} <= set(names)


@pytest.mark.parametrize("name", list(sc.COLLECTIONS))
def test_collection_loads_with_the_advertised_files(built, name):
    out, summaries = built
    col = load_collection(out / name)
    summary = json.loads((out / name / "summary.json").read_text())
    models = json.loads((out / name / "models.json").read_text())
    assert 8 <= col.n_models <= 15
    assert col.predictions.shape == (summary["n_items"], summary["n_models"])
    assert col.n_classes == summary["n_classes"] and np.array_equal(col.classes, np.arange(col.n_classes))
    assert [m["name"] for m in models] == list(summary["accuracy"])
    assert all(m["family"] and m["training_slice"] and m["training_items"] > 0 for m in models)
    # the summary's figures are those of the written arrays
    accuracy = (col.predictions == col.labels[:, None]).mean(axis=0)
    np.testing.assert_allclose(list(summary["accuracy"].values()), accuracy, atol=1e-5)
    wrong = majority_vote(col.predictions, col.n_classes) != col.labels
    assert summary["majority_wrong_share"] == pytest.approx(wrong.mean(), abs=1e-5)
    assert summary == summaries[name]


@pytest.mark.parametrize("name", list(sc.COLLECTIONS))
def test_majority_is_wrong_often_and_the_best_candidate_is_a_minority_voter_there(built, name):
    out, _ = built
    col = load_collection(out / name)
    accuracy = (col.predictions == col.labels[:, None]).mean(axis=0)
    best = int(np.argmax(accuracy))
    vote = majority_vote(col.predictions, col.n_classes)
    wrong = vote != col.labels
    assert 0.08 <= wrong.mean() <= 0.45, wrong.mean()
    assert accuracy[best] > 1 - wrong.mean() + 0.02            # the best beats the candidates' consensus
    # where the majority is wrong the best is often right, i.e. it votes against the majority
    best_right = col.predictions[wrong, best] == col.labels[wrong]
    assert best_right.mean() >= 0.3
    assert np.all(col.predictions[wrong, best][best_right] != vote[wrong][best_right])
    # the best comes from a date that saw the shift, and most candidates did not
    models = json.loads((out / name / "models.json").read_text())
    assert "@" in models[best]["name"]
    assert sum("@" not in m["name"] for m in models) > len(models) / 2


def test_same_seed_same_bytes(built, tmp_path):
    out, _ = built
    name = "shift-cancer-recalibrated"
    sc.write(name, tmp_path, seed=0, scale=SCALES[name])
    assert digest(tmp_path / name) == digest(out / name)


def test_cli_builds_the_chosen_collection_and_another_seed_differs(built, tmp_path, capsys):
    out, _ = built
    name = "shift-cancer-recalibrated"
    assert sc.main(["--only", name, "--seed", "1", "--out", str(tmp_path), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert name in text and "majority vote" in text
    col = load_collection(tmp_path / name)
    assert col.n_items >= 1500 and col.n_classes == 2
    assert not np.array_equal(col.predictions, np.load(out / name / "predictions.npy"))
    assert not (tmp_path / "shift-digits-rotate").exists()


@pytest.mark.parametrize("argv", [["--only", "nope"], ["--scale", "0"], ["--scale", "2"], ["--seed", "-1"]])
def test_cli_bad_arguments_exit_2(argv, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        sc.main([*argv, "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_build_rejects_unknown_names_and_scales():
    with pytest.raises(ValueError, match="unknown collection"):
        sc.build("shift-nothing")
    with pytest.raises(ValueError, match="scale"):
        sc.build("shift-digits-rotate", scale=0.0)
