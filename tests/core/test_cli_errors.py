"""Bad input to every core CLI subcommand: a message naming what is wrong,
a non-zero exit, no traceback, and (for output arguments) no work done first.

Issue 12 item 5: ``bench --plot x.txt`` and unwritable outputs failed only
after the whole benchmark; 1e30 in a CSV gave an OverflowError; bad
``--params`` gave a TypeError traceback; a huge ``--workers`` started that
many processes.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from modelpicker_core.cli import check_output
from tests.support.cli import run_main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data(tmp_path):
    """6 items, 3 models, 2 classes, with true labels."""
    d = tmp_path / "data"
    d.mkdir()
    (d / "predictions.csv").write_text("0,1,1\n1,0,1\n1,1,0\n0,0,1\n1,1,1\n0,1,0\n")
    (d / "labelspace.csv").write_text("0\n1\n")
    (d / "oracle.csv").write_text("0\n1\n1\n0\n1\n0\n")
    return d


def bench(data, *extra):
    return ["bench", "--data", str(data), "--setting", "pool", "--strategies", "modelpicker", "--budgets", "2",
            "--realizations", "2", "--workers", "1", "--no-progress", *extra]


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("x")
    return path


@pytest.mark.parametrize("extra, message", [
    (lambda t, f: ["--plot", str(t / "x.txt")], "--plot must name a .png file, got"),
    (lambda t, f: ["--plot", str(f / "x.png")], "a_file is a file, not a directory"),
    (lambda t, f: ["--json", str(f / "sub" / "x.json")], "--json"),
    (lambda t, f: ["--json", str(t)], "is a directory; name a file"),
])
def test_bench_output_arguments_are_checked_before_the_run(data, tmp_path, a_file, capsys, extra, message):
    """Nothing is printed on stdout: the benchmark did not run (before: its table, then the error)."""
    code, out, err = run_main(bench(data, *extra(tmp_path, a_file)), capsys)
    assert code == 1
    assert message in err
    assert out == ""


def test_bench_missing_output_directories_are_fine(data, tmp_path, capsys):
    out_json = tmp_path / "new" / "deeper" / "r.json"
    code, out, _ = run_main(bench(data, "--json", str(out_json)), capsys)
    assert code == 0 and out_json.is_file()


@pytest.mark.parametrize("params, message", [
    ('{"other": {"x": 1}}', "--params names 'other', which is not in --strategies (modelpicker)"),
    ('{"modelpicker": {"nope": 1}}', "--params: strategy 'modelpicker' has no parameter 'nope'"),
    ('{"modelpicker": {"n_models": 3}}', "has no parameter 'n_models'"),
])
def test_bench_bad_params_are_named_before_the_run(data, capsys, params, message):
    """Before: an unknown parameter was a TypeError traceback; a strategy not run was silently ignored."""
    code, out, err = run_main(bench(data, "--params", params), capsys)
    assert code == 1
    assert message in err
    assert out == ""


@pytest.mark.parametrize("extra, message", [
    (["--workers", "100000"], "argument --workers: workers must be <= "),
    (["--realizations", "999999999999"], "argument --realizations: value must be <= 1,000,000"),
    (["--pilots", "10000000"], "argument --pilots: value must be <= 1,000,000"),
])
def test_bench_huge_counts_are_argument_errors(data, capsys, extra, message):
    """Before: 100,000 workers started that many processes; 10**12 realisations exhausted memory."""
    code, _, err = run_main(bench(data, *extra), capsys)
    assert code == 2
    assert message in err


def test_bench_overflowing_value_through_python_dash_m(data):
    (data / "predictions.csv").write_text("0,1,1\n1,1e30,1\n1,1,0\n0,0,1\n1,1,1\n0,1,0\n")
    proc = subprocess.run([sys.executable, "-m", "modelpicker_core", *bench(data)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "predictions.csv row 2, column 2: '1e30' is out of range for a class value" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_pick_non_utf8_file_names_it(data, capsys):
    (data / "labelspace.csv").write_bytes(b"0\n1\xff\n")
    code, out, err = run_main(["pick", "--data", str(data), "--budget", "1"], capsys)
    assert code == 1 and out == ""
    assert "labelspace.csv row 2: byte 0xff is not UTF-8 text" in err


def test_synth_output_under_a_file_is_refused_before_generating(a_file, capsys):
    """Before: the collection was generated, then writing it failed with a bare errno message."""
    code, out, err = run_main(["synth", "--kind", "all", "--out", str(a_file / "sub")], capsys)
    assert code == 1 and out == ""
    assert f"--out {a_file / 'sub'}: {a_file} is a file, not a directory" in err


def test_synth_sizes_beyond_memory_are_an_error_not_a_traceback(tmp_path, capsys):
    """10**15 items cannot be allocated on any machine (8 PB per float array)."""
    code, _, err = run_main(["synth", "--kind", "imbalanced", "--out", str(tmp_path / "s"),
                             "--items", str(10**15)], capsys)
    assert code == 1
    assert "synth: error: not enough memory for these sizes" in err


def test_check_output_probes_writability(tmp_path):
    """A read-only directory (or /proc) is refused even when permission bits would not tell (root)."""
    assert check_output(tmp_path / "a" / "b.json", "--json") == tmp_path / "a" / "b.json"
    assert check_output(tmp_path / "new_dir", "--out", directory=True) == tmp_path / "new_dir"
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind, creates no directory
    if Path("/proc/self").is_dir():
        with pytest.raises(ValueError, match=r"--json /proc/x\.json: cannot write in /proc"):
            check_output("/proc/x.json", "--json")
    with pytest.raises(ValueError, match=r"--plot must name a \.png file"):
        check_output(tmp_path / "x.PNG.txt", "--plot", suffix=".png")
    assert check_output(tmp_path / "x.PNG", "--plot", suffix=".png").name == "x.PNG"


@pytest.mark.parametrize("command", [[], ["bench"], ["pick"], ["speed"], ["synth"]])
def test_every_subcommand_has_help(command, capsys):
    code, out, _ = run_main([*command, "--help"], capsys)
    assert code == 0 and "usage: python -m modelpicker_core" in out


@pytest.mark.parametrize("argv, message", [
    (lambda d: bench(d, "--json", ""), "--json is empty; name a file"),
    (lambda d: bench(d, "--plot", ""), "--plot is empty; name a file"),
    (lambda d: ["synth", "--kind", "imbalanced", "--out", ""], "--out is empty; name a directory"),
    (lambda d: ["pick", "--data", "", "--budget", "1"], "the collection directory is empty"),
])
def test_empty_paths_are_refused(data, tmp_path, monkeypatch, capsys, argv, message):
    """Before: --json '' was ignored after the run, and synth --out '' wrote into the working directory."""
    monkeypatch.chdir(tmp_path / "data")
    before = sorted(p.name for p in (tmp_path / "data").iterdir())
    code, out, err = run_main(argv(data), capsys)
    assert code == 1 and out == ""
    assert message in err
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == before
