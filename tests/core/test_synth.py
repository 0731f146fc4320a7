"""Synthetic collections: exact accuracies, correlated errors, loader format, CLI."""
import json

import numpy as np
import pytest

from modelpicker_core.cli import main
from modelpicker_core.loaders import load_collection
from modelpicker_core.synth import KINDS, SynthSpec, generate, majority_vote, spec_for, write_collection


@pytest.mark.parametrize("kind", KINDS)
def test_presets_have_the_promised_shape(kind):
    spec = spec_for(kind, n_items=2000)
    col = generate(spec, seed=0)
    n_models = {"many-models": 100, "many-classes": 10, "imbalanced": 8, "near-ties": 8, "shared-failure": 10}[kind]
    n_classes = {"many-models": 10, "many-classes": 1000, "imbalanced": 2, "near-ties": 4, "shared-failure": 5}[kind]
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


# ------------------------------------------------------------------ shared-failure
@pytest.fixture(scope="module")
def shared():
    return generate(spec_for("shared-failure"), seed=0)


def test_shared_failure_shapes_and_slice(shared):
    spec = spec_for("shared-failure")
    assert (spec.n_models, spec.n_classes, spec.n_items) == (10, 5, 5000)
    assert shared.predictions.shape == (5000, 10) and shared.labels.shape == (5000,)
    assert shared.predictions.dtype == np.int64 and 0 <= shared.predictions.min() and shared.predictions.max() < 5
    assert shared.failure_slice.shape == (5000,) and shared.failure_slice.dtype == bool
    assert shared.failure_slice.sum() == 1250 == shared.info["slice_items"]


def test_shared_failure_same_seed_same_collection_other_seed_other_collection():
    spec = spec_for("shared-failure", n_items=800)
    a, b, c = generate(spec, seed=5), generate(spec, seed=5), generate(spec, seed=6)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.failure_slice, b.failure_slice)
    assert a.info == b.info
    assert not np.array_equal(a.predictions, c.predictions)
    assert not np.array_equal(a.failure_slice, c.failure_slice)


def test_shared_failure_majority_is_wrong_on_the_slice_and_right_off_it(shared):
    on = shared.failure_slice
    vote = majority_vote(shared.predictions, 5)
    wrong = vote != shared.labels
    assert wrong[on].mean() >= 0.85
    assert wrong[~on].mean() <= 0.08
    assert 0.15 <= wrong.mean() <= 0.35
    assert shared.info["majority_wrong_share"] == pytest.approx(wrong.mean(), abs=1e-5)
    # the failing bloc errs together: on the slice most of its members predict the majority's wrong class
    bloc = list(shared.info["failing_models"])
    assert len(bloc) > 10 / 2
    rows = on & wrong
    same = (shared.predictions[rows][:, bloc] == vote[rows, None]).mean()
    assert same >= 0.85


def test_shared_failure_true_best_is_a_minority_voter_on_the_slice(shared):
    spec = spec_for("shared-failure")
    accuracy = (shared.predictions == shared.labels[:, None]).mean(axis=0)
    best = int(np.argmax(accuracy))
    assert best == shared.info["best_model"] == 3 and best not in shared.info["failing_models"]
    assert accuracy[best] == pytest.approx(0.80, abs=0.005)
    vote = majority_vote(shared.predictions, 5)
    rows = shared.failure_slice & (vote != shared.labels)
    right = shared.predictions[rows, best] == shared.labels[rows]
    assert right.mean() >= 0.6                                       # right where the majority is wrong ...
    assert np.all(shared.predictions[rows, best][right] != vote[rows][right])   # ... so it votes against it
    assert accuracy[best] - (1 - (vote != shared.labels).mean()) >= 0.04    # and beats the consensus
    # off the slice the failing bloc looks better than the true best: agreement favours the bloc
    off = ~shared.failure_slice
    off_accuracy = (shared.predictions[off] == shared.labels[off, None]).mean(axis=0)
    assert off_accuracy[list(spec.failing_models)].min() > off_accuracy[best]
    # the top two overall are a few points apart
    top = np.sort(accuracy)[::-1]
    assert 0.01 <= top[0] - top[1] <= 0.05


def test_shared_failure_recall_is_exact_on_and_off_the_slice(shared):
    spec = spec_for("shared-failure")
    for c in range(5):
        for region, recall in ((shared.failure_slice, spec.slice_recall), (~shared.failure_slice, spec.recall[:, c])):
            rows = region & (shared.labels == c)
            got = (shared.predictions[rows] == c).mean(axis=0)
            np.testing.assert_allclose(got, recall, atol=1.0 / rows.sum())


def test_shared_failure_probabilities_and_written_files(tmp_path):
    col = generate(spec_for("shared-failure", n_items=300), seed=1, probabilities=True)
    assert np.array_equal(col.probabilities.argmax(axis=2), col.predictions)
    write_collection(col, tmp_path, fmt="npy")
    loaded = load_collection(tmp_path)
    np.testing.assert_array_equal(loaded.predictions, col.predictions)
    info = json.loads((tmp_path / "synth.json").read_text())
    assert info["kind"] == "shared-failure" and info["failing_models"] == [0, 1, 2, 4, 6, 8]


def test_other_kinds_have_no_failure_slice():
    for kind in KINDS:
        if kind == "shared-failure":
            continue
        col = generate(spec_for(kind, n_items=200), seed=0)
        assert col.failure_slice is None and "failure_share" not in col.info


def test_majority_vote_breaks_ties_to_the_lowest_class():
    preds = np.array([[2, 1, 2, 1], [0, 3, 3, 0], [4, 4, 4, 1]])
    np.testing.assert_array_equal(majority_vote(preds, 5), [1, 0, 4])


@pytest.mark.parametrize("change, message", [({"failure_share": 1.0}, "failure_share"),
                                             ({"failing_models": (0, 12)}, "failing_models"),
                                             ({"slice_recall": np.full(3, 0.5)}, "slice_recall"),
                                             ({"bloc_agreement": 1.5}, "bloc_agreement")])
def test_shared_failure_bad_spec_values_are_named(change, message):
    import dataclasses
    spec = dataclasses.replace(spec_for("shared-failure", n_items=100), **change)
    with pytest.raises(ValueError, match=message):
        generate(spec)


def test_cli_writes_a_shared_failure_collection(tmp_path, capsys):
    assert main(["synth", "--kind", "shared-failure", "--items", "600", "--out", str(tmp_path / "s")]) == 0
    col = load_collection(tmp_path / "s")
    assert col.predictions.shape == (600, 10) and col.n_classes == 5
    assert "shared-failure" in capsys.readouterr().out
