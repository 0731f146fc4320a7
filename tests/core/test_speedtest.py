"""The speed harness and its CLI: results are complete and exact, data are
seeded, bad arguments fail clearly.  No timing assertions (speed claims come
from running the command, see the README)."""
import json

import numpy as np
import pytest

from modelpicker_core.cli import main
from modelpicker_core.speedtest import format_speed, generate_predictions, run_speed


def test_generated_predictions_are_seeded_compact_and_correlated():
    a, la = generate_predictions(3000, 8, 5, seed=1)
    b, lb = generate_predictions(3000, 8, 5, seed=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert a.dtype == np.int16 and a.shape == (3000, 8) and a.min() >= 0 and a.max() < 5
    accuracy = (a == la[:, None]).mean(axis=0)
    assert accuracy.min() > 0.5 and accuracy.max() < 0.95  # 0.5..0.9 plus chance hits
    assert not np.array_equal(a, generate_predictions(3000, 8, 5, seed=2)[0])


@pytest.mark.parametrize("strategy,n_classes", [("modelpicker", 4), ("model_selector", 4),
                                                ("modelpicker", 30), ("model_selector", 30)])
def test_run_speed_reports_exact_agreement_with_the_loops(strategy, n_classes):
    r = run_speed(2000, 6, n_classes, seed=0, loop_items=150, strategy=strategy, repeats=1)
    for kind in ("loop", "fast_loop"):
        assert r[f"{kind}_items"] == 150
        assert r[f"{kind}_max_abs_difference"] < 1e-12
        assert r[f"{kind}_speedup"] > 0 and r[f"{kind}_items_per_second"] > 0
    assert r["vectorised_items_per_second"] == pytest.approx(2000 / r["vectorised_seconds"])
    assert r["peak_rss_mb"] > 0 and r["predictions_mb"] == pytest.approx(2000 * 6 * 2 / 2**20)
    assert "python loop (formula)" in format_speed(r)


def test_run_speed_without_a_per_item_reference():
    r = run_speed(500, 4, 3, strategy="vote_entropy", repeats=1)
    assert r["loop_items"] is None and r["vectorised_seconds"] > 0
    assert "n/a" in format_speed(r)


@pytest.mark.parametrize("kwargs,message", [
    ({"n_items": 0}, "items"), ({"n_classes": 1}, "classes"), ({"loop_items": 0}, "loop items"),
    ({"strategy": "nope"}, "unknown strategy"),
])
def test_run_speed_bad_arguments(kwargs, message):
    args = {"n_items": 100, "n_models": 3, "n_classes": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        run_speed(**args)


def test_cli_prints_a_table_and_json(capsys):
    assert main(["speed", "--items", "3000", "--models", "5", "--classes", "3", "--loop-items", "100",
                 "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "vectorised (all)" in out and "peak memory" in out
    assert main(["speed", "--items", "500", "--models", "4", "--classes", "3", "--loop-items", "50",
                 "--repeats", "1", "--strategy", "model_selector", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["strategy"] == "model_selector" and result["n_items"] == 500


@pytest.mark.parametrize("argv", [
    ["speed", "--items", "0"], ["speed", "--classes", "1"], ["speed", "--models", "x"],
    ["speed", "--strategy", "nope"], ["speed", "--loop-items", "-3"],
])
def test_cli_bad_arguments_exit_2_with_a_message(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error: argument" in capsys.readouterr().err


@pytest.mark.parametrize("strategy", ["consensus", "certified"])
def test_pool_strategies_are_timed(strategy):
    """Issue 12: `speed --strategy consensus` (offered by --help) always failed: it needs set_pool."""
    r = run_speed(400, 4, 3, seed=0, strategy=strategy, repeats=1)
    assert r["strategy"] == strategy and r["vectorised_seconds"] > 0
    assert r["loop_items"] is None  # no per-item reference for these
    assert "n/a" in format_speed(r)


@pytest.mark.parametrize("n_items", [1, 2, 21])
def test_pool_strategy_with_few_items_labels_an_unlabelled_item(n_items):
    """The timed round's label goes to an item the preparation left unlabelled (consensus refuses a second)."""
    r = run_speed(n_items, 3, 2, strategy="consensus", repeats=2)
    assert r["n_items"] == n_items


def test_cli_consensus_prints_a_table(capsys):
    assert main(["speed", "--strategy", "consensus", "--items", "500", "--models", "4", "--classes", "3",
                 "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "strategy consensus: 500 items" in out and "vectorised (all)" in out


@pytest.mark.parametrize("argv, message", [
    (["speed", "--seed", "-1"], "seed must be >= 0, got -1"),
    (["speed", "--classes", "99999999999"], "must be <= 2,147,483,647"),
])
def test_cli_bad_seed_and_classes_are_argument_errors(argv, capsys, message):
    """Before: a negative seed and 10**11 classes failed inside NumPy (exit 1, NumPy's wording)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_sizes_beyond_memory_are_an_error(capsys):
    """10**15 items x 100 models cannot be allocated anywhere: exit 1 and a message, no traceback."""
    assert main(["speed", "--items", str(10**15), "--models", "100", "--repeats", "1"]) == 1
    err = capsys.readouterr().err
    assert "python -m modelpicker_core speed: error: not enough memory for these sizes" in err
    assert "Traceback" not in err
