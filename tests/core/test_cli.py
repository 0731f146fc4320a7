"""``python -m modelpicker_core bench`` and ``pick``: outputs, exit codes, messages."""
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelpicker_core.cli.pick import TerminalLabels
from modelpicker_core.loaders import load_collection
from tests.support.cli import run_main

REPO = Path(__file__).resolve().parents[2]
TOP_KEYS = {"setting", "data", "realizations", "seed", "strategies"}
STRATEGY_KEYS = {"budgets", "identification", "regret", "labels", "labels_to_0.9", "seconds"}


@pytest.fixture
def labelled_dir(tmp_path):
    """150 items, 3 models (right 90%, 75%, 60% of the time), label space 5, 10, 20."""
    rng = np.random.default_rng(0)
    classes = np.array([5, 10, 20])
    truth = rng.integers(3, size=150)
    cols = []
    for acc in (0.9, 0.75, 0.6):
        wrong = (truth + rng.integers(1, 3, size=150)) % 3
        cols.append(np.where(rng.random(150) < acc, truth, wrong))
    np.savetxt(tmp_path / "predictions.csv", classes[np.column_stack(cols)].astype(float), delimiter=",")
    np.savetxt(tmp_path / "oracle.csv", classes[truth].astype(float))
    np.savetxt(tmp_path / "labelspace.csv", classes.astype(float))
    return tmp_path


@pytest.fixture
def separable_dir(tmp_path):
    """Every item: model 0 says 10, model 1 says 5, model 2 says 20 (no oracle file)."""
    (tmp_path / "predictions.csv").write_text("10,5,20\n" * 12)
    (tmp_path / "labelspace.csv").write_text("5\n10\n20\n")
    return tmp_path


def test_bench_writes_json_with_the_exact_schema_and_a_png(labelled_dir, tmp_path, capsys):
    out_json, out_png = tmp_path / "res" / "out.json", tmp_path / "res" / "out.png"
    code, out, _ = run_main(
        ["bench", "--data", str(labelled_dir), "--setting", "pool", "--strategies", "modelpicker",
         "--budgets", "5,10,20", "--realizations", "4", "--pool-size", "60", "--seed", "2",
         "--workers", "1", "--no-progress", "--json", str(out_json), "--plot", str(out_png)], capsys)
    assert code == 0
    result = json.loads(out_json.read_text())
    assert TOP_KEYS <= set(result)
    assert ((result["setting"], result["data"], result["realizations"], result["seed"])
            == ("pool", str(labelled_dir), 4, 2))
    res = result["strategies"]["modelpicker"]
    assert STRATEGY_KEYS <= set(res)
    assert res["budgets"] == [5, 10, 20]
    for key in ("identification", "regret", "labels"):
        assert len(res[key]) == 3 and all(isinstance(v, float) for v in res[key])
    assert res["labels_to_0.9"] is None or isinstance(res["labels_to_0.9"], int)
    assert isinstance(res["seconds"], float)
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "modelpicker" in out and "labels_to_0.9" in out


def test_bench_stream_same_command_same_numbers(labelled_dir, tmp_path, capsys):
    outputs = []
    for name in ("a.json", "b.json"):
        argv = ["bench", "--data", str(labelled_dir), "--setting", "stream", "--strategies", "modelpicker",
                "--budgets", "10", "--realizations", "3", "--stream-size", "80", "--pilots", "4",
                "--workers", "1", "--no-progress", "--json", str(tmp_path / name)]
        assert run_main(argv, capsys)[0] == 0
        result = json.loads((tmp_path / name).read_text())
        result["strategies"]["modelpicker"].pop("seconds")
        outputs.append(result)
    assert outputs[0] == outputs[1]
    assert outputs[0]["stream_size"] == 80


@pytest.mark.parametrize("extra, code, message", [
    (["--strategies", "nope"], 1, "unknown strategy 'nope'"),
    (["--budgets", "10,x"], 2, "budget 'x' is not an integer"),
    (["--budgets", "0"], 2, "must be >= 1"),
    (["--stream-size", "50"], 1, "--stream-size goes with --setting stream"),
    (["--pool-size", "20", "--budgets", "30"], 1, "exceeds the pool size 20"),
    (["--pool-size", "500"], 1, "size must be in 1..150"),
    (["--realizations", "-3"], 2, "must be >= 1"),
])
def test_bench_bad_arguments_exit_nonzero_with_a_message(labelled_dir, capsys, extra, code, message):
    argv = ["bench", "--data", str(labelled_dir), "--setting", "pool", "--strategies", "modelpicker",
            "--budgets", "5", "--realizations", "2", "--workers", "1", "--no-progress"]
    got, _, err = run_main(argv + extra, capsys)
    assert got == code
    assert message in err


def test_bench_bad_data_directory(tmp_path, capsys):
    code, _, err = run_main(["bench", "--data", str(tmp_path / "missing"), "--setting", "pool",
                             "--strategies", "modelpicker", "--budgets", "5"], capsys)
    assert code == 1 and "is not a directory" in err


def test_bench_through_python_dash_m_has_no_traceback(tmp_path):
    (tmp_path / "predictions.csv").write_text("0,1\n1,1,0\n")
    (tmp_path / "labelspace.csv").write_text("0\n1\n")
    (tmp_path / "oracle.csv").write_text("0\n1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "modelpicker_core", "bench", "--data", str(tmp_path), "--setting", "pool",
         "--strategies", "modelpicker", "--budgets", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "predictions.csv row 2: 3 values, expected 2" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_pick_with_piped_labels_prints_the_best_model(separable_dir, capsys, monkeypatch):
    code, out, err = run_main(["pick", "--data", str(separable_dir), "--budget", "4"], capsys,
                              stdin_text="10\n10\n10.0\n10\n", monkeypatch=monkeypatch)
    assert code == 0
    assert "Labelled 4 item(s) with modelpicker." in out
    assert "Best model: m0 (column 1 of the predictions; " in out  # m0 predicted 10, the label given every time
    assert "posterior P(best): m0=" in out
    assert "m0=10  m1=5  m2=20" in err  # the question shows each model's prediction as a label-space value


def test_pick_piped_invalid_label_is_an_error(separable_dir, capsys, monkeypatch):
    code, out, err = run_main(["pick", "--data", str(separable_dir), "--budget", "3"], capsys,
                              stdin_text="10\n7\n10\n", monkeypatch=monkeypatch)
    assert code == 1
    assert "standard input line 2: '7' is not a class of the label space (5, 10, 20)" in err
    assert "Best model" not in out


def test_pick_piped_input_ending_early_is_an_error(separable_dir, capsys, monkeypatch):
    code, _, err = run_main(["pick", "--data", str(separable_dir), "--budget", "3"], capsys,
                            stdin_text="10\n", monkeypatch=monkeypatch)
    assert code == 1
    assert "standard input ended after 1 line(s)" in err


def test_pick_stops_when_no_item_can_separate_the_models(tmp_path, capsys, monkeypatch):
    (tmp_path / "predictions.csv").write_text("0,1\n1,1\n0,0\n")
    (tmp_path / "labelspace.csv").write_text("0\n1\n")
    code, out, _ = run_main(["pick", "--data", str(tmp_path), "--budget", "5"], capsys,
                            stdin_text="1\n", monkeypatch=monkeypatch)
    assert code == 0
    assert "Labelled 1 item(s)" in out and "Stopped early" in out and "Best model: m1 " in out


def test_interactive_input_is_asked_again(separable_dir):
    collection = load_collection(separable_dir, require_labels=False)
    stderr = io.StringIO()
    ask = TerminalLabels(collection, io.StringIO("happy\n7\n\n20\n"), stderr, interactive=True)
    assert ask(0, 1, 1) == 2  # 20 is the third class of the label space
    assert stderr.getvalue().count("try again") == 3


def test_pick_unknown_strategy(separable_dir, capsys, monkeypatch):
    code, _, err = run_main(["pick", "--data", str(separable_dir), "--budget", "2", "--strategy", "nope"],
                            capsys, stdin_text="", monkeypatch=monkeypatch)
    assert code == 1 and "unknown strategy 'nope'" in err


def test_every_written_subcommand_is_wired(capsys):
    code, out, _ = run_main(["--help"], capsys)
    assert code == 0
    for name in ("bench", "pick", "speed"):
        assert f"    {name} " in out


@pytest.mark.parametrize("strategy", ["modelpicker", "certified"])
def test_pick_stops_once_a_model_is_certified_and_states_the_bound(separable_dir, capsys, monkeypatch, strategy):
    """12 items, model 0 right on all: the exact part alone certifies it (epsilon 0) after 6 labels at most."""
    code, out, _ = run_main(["pick", "--data", str(separable_dir), "--budget", "12", "--strategy", strategy,
                             "--epsilon", "0"], capsys, stdin_text="10\n" * 12, monkeypatch=monkeypatch)
    assert code == 0
    labelled = int(out.split("Labelled ")[1].split(" ")[0])
    assert labelled <= 6
    assert "Stopped early: a model is certified at most 0.0 points below the best (95%)" in out
    assert "Guaranteed: model m0 is at most 0.0 accuracy points worse than the best model on these items (95%)" in out
    assert "at most (pts)" in out


def test_pick_rejects_a_bad_epsilon(separable_dir, capsys):
    code, _, err = run_main(["pick", "--data", str(separable_dir), "--budget", "3", "--epsilon", "1.5"], capsys)
    assert code == 2 and "epsilon must be in [0, 1)" in err


def test_pick_names_every_model_as_the_questions_do(tmp_path, capsys, monkeypatch):
    """Issue 12: the questions showed m5=... and the result said "Best model: 5".

    Six models; only m5 predicts the label given, so the result must call it
    m5 everywhere (best line, guarantee, table, posterior) and never by a bare
    index or its 1-based column alone.
    """
    (tmp_path / "predictions.csv").write_text("0,0,0,0,0,1\n" * 8)
    (tmp_path / "labelspace.csv").write_text("0\n1\n")
    code, out, err = run_main(["pick", "--data", str(tmp_path), "--budget", "4"], capsys,
                              stdin_text="1\n" * 4, monkeypatch=monkeypatch)
    assert code == 0
    assert "m0=0  m1=0  m2=0  m3=0  m4=0  m5=1" in err
    assert "Best model: m5 (column 6 of the predictions; P(best) = " in out
    assert "Guaranteed: model m5 is at most" in out
    table = out.split("\n\n")[1].splitlines()
    assert table[1].split()[:2] == ["1", "m5"]
    assert sorted(row.split()[1] for row in table[1:]) == [f"m{j}" for j in range(6)]
    posterior = out.split("posterior P(best): ")[1].split()
    assert [p.split("=")[0] for p in posterior] == [f"m{j}" for j in range(6)]
    assert "Best model: 5" not in out and "model 5 " not in out
