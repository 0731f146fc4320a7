"""Synthetic collections: exact accuracies, correlated errors, loader format, CLI."""
import json

import numpy as np
import pytest

from modelpicker_core.cli import main
from modelpicker_core.loaders import load_collection
from modelpicker_core.synth import KINDS, SynthSpec, generate, spec_for, write_collection


@pytest.mark.parametrize("kind", KINDS)
def test_presets_have_the_promised_shape(kind):
    spec = spec_for(kind, n_items=2000)
    col = generate(spec, seed=0)
    n_models = {"many-models": 100, "many-classes": 10, "imbalanced": 8, "near-ties": 8}[kind]
    n_classes = {"many-models": 10, "many-classes": 1000, "imbalanced": 2, "near-ties": 4}[kind]
    assert col.predictions.shape == (2000, n_models)
    assert col.n_classes == n_classes
    assert col.predictions.min() >= 0 and col.predictions.max() < n_classes
    assert col.labels.shape == (2000,)


def test_per_class_recall_is_exact():
    spec = spec_for("imbalanced", n_items=4000)
    col = generate(spec, seed=3)
    for c in range(2):
        rows = col.labels == c
        recall = (col.predictions[rows] == c).mean(axis=0)
        np.testing.assert_allclose(recall, spec.recall[:, c], atol=1.0 / rows.sum())


def test_imbalanced_has_five_percent_positives_and_a_half_point_lead():
    col = generate(spec_for("imbalanced"), seed=0)
    assert abs(col.labels.mean() - 0.05) < 0.01
    assert col.info["best_model"] == 1
    assert 0.3 <= col.info["top_two_gap_points"] <= 0.7


def test_near_ties_lead_is_half_a_point():
    col = generate(spec_for("near-ties"), seed=0)
    assert abs(col.info["top_two_gap_points"] - 0.5) < 0.05


def test_same_seed_same_collection_other_seed_other_collection():
    spec = spec_for("near-ties", n_items=500)
    a, b, c = generate(spec, seed=1), generate(spec, seed=1), generate(spec, seed=2)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.predictions, c.predictions)


def error_correlation(col):
    wrong = (col.predictions != col.labels[:, None]).astype(float)
    corr = np.corrcoef(wrong.T)
    return corr[np.triu_indices_from(corr, 1)].mean()


def test_errors_are_correlated_and_rho_controls_it():
    recall = np.repeat(np.array([[0.8], [0.75], [0.7], [0.7]]), 3, axis=1)
    correlated = generate(SynthSpec("t", 6000, 3, recall, rho=0.6), seed=0)
    independent = generate(SynthSpec("t", 6000, 3, recall, rho=0.0), seed=0)
    assert error_correlation(correlated) > 0.2
    assert abs(error_correlation(independent)) < 0.05


def test_wrong_models_often_agree_on_the_confuser():
    col = generate(spec_for("many-classes", n_items=3000), seed=0)
    wrong = col.predictions != col.labels[:, None]
    both = wrong[:, 0] & wrong[:, 1]
    same = (col.predictions[both, 0] == col.predictions[both, 1]).mean()
    assert same > 0.3   # far above the 1/999 of independent uniform mistakes


def test_probabilities_are_distributions_led_by_the_prediction():
    col = generate(spec_for("near-ties", n_items=300), seed=0, probabilities=True)
    p = col.probabilities
    assert p.shape == (300, 8, 4)
    np.testing.assert_allclose(p.sum(axis=2), 1.0, atol=1e-5)
    assert np.array_equal(p.argmax(axis=2), col.predictions)


@pytest.mark.parametrize("fmt", ["csv", "npy"])
def test_written_collection_loads(tmp_path, fmt):
    col = generate(spec_for("near-ties", n_items=200), seed=0, probabilities=True)
    write_collection(col, tmp_path, fmt=fmt)
    loaded = load_collection(tmp_path)
    np.testing.assert_array_equal(loaded.predictions, col.predictions)
    np.testing.assert_array_equal(loaded.labels, col.labels)
    assert loaded.n_classes == 4
    np.testing.assert_allclose(loaded.probabilities, col.probabilities)
    assert json.loads((tmp_path / "synth.json").read_text())["kind"] == "near-ties"


def test_rewriting_in_another_format_leaves_one_set_of_files(tmp_path):
    col = generate(spec_for("near-ties", n_items=100), seed=0)
    write_collection(col, tmp_path, fmt="csv")
    write_collection(col, tmp_path, fmt="npy")
    assert not (tmp_path / "predictions.csv").exists()
    load_collection(tmp_path)


def test_bad_spec_values_are_named():
    with pytest.raises(ValueError, match="unknown synthetic kind"):
        spec_for("huge")
    recall = np.full((2, 2), 0.8)
    with pytest.raises(ValueError, match="rho"):
        generate(SynthSpec("t", 100, 2, recall, rho=1.0))
    with pytest.raises(ValueError, match="recall"):
        generate(SynthSpec("t", 100, 3, recall))
    with pytest.raises(ValueError, match="format"):
        write_collection(generate(SynthSpec("t", 100, 2, recall)), "/tmp", fmt="xlsx")


def test_cli_writes_a_loadable_collection(tmp_path, capsys):
    assert main(["synth", "--kind", "imbalanced", "--items", "500", "--out", str(tmp_path / "c"), "--seed", "4"]) == 0
    col = load_collection(tmp_path / "c")
    assert col.predictions.shape == (500, 8) and col.n_classes == 2
    assert "imbalanced" in capsys.readouterr().out


def test_cli_all_kinds(tmp_path):
    assert main(["synth", "--kind", "all", "--items", "200", "--out", str(tmp_path)]) == 0
    for kind in KINDS:
        assert load_collection(tmp_path / kind).n_items == 200


@pytest.mark.parametrize("argv", [["synth", "--kind", "nope", "--out", "x"], ["synth", "--kind", "near-ties"],
                                  ["synth", "--kind", "near-ties", "--out", "x", "--rho", "1.5"],
                                  ["synth", "--kind", "near-ties", "--out", "x", "--items", "0"]])
def test_cli_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_cli_output_that_is_a_file_is_an_error(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["synth", "--kind", "near-ties", "--items", "100", "--out", str(target)]) == 1
    assert "not a directory" in capsys.readouterr().err
