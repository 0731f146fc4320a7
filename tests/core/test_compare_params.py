"""benchmarks/compare_params.py: paired comparison of consensus settings."""
import json

import pytest

from benchmarks import compare_params
from modelpicker_core.synth import generate, spec_for, write_collection  # noqa: E402


def test_same_setting_twice_differs_by_nothing(tmp_path, capsys):
    write_collection(generate(spec_for("near-ties", n_items=400), seed=0), tmp_path / "near-ties")
    out = tmp_path / "cmp.json"
    fast = '{"n_samples": 64, "n_draws": 2}'
    assert compare_params.main(["--collection", "near-ties", "--data-dir", str(tmp_path), "--realizations", "3",
                                "--max-labels", "6", "--pool-size", "200", "--workers", "1", "--out", str(out),
                                fast, fast]) == 0
    summary = json.loads(out.read_text())
    first, second = summary["settings"]
    assert first["mean_identification"] == second["mean_identification"]
    assert second["paired_difference"] == 0.0 and second["standard_error"] == 0.0
    assert "vs first +0.0000" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [(["[1]"], "JSON object"), (["{x"], "not JSON"),
                                           (["--collection", "nope", "{}"], "unknown collection"),
                                           (["--from-label", "9", "--max-labels", "5", "{}"], "above --max-labels"),
                                           (["--realizations", "1", "{}"], ">= 2")])
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        compare_params.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [("[1]", "must be a JSON object"), ("{x", "is not JSON")])
def test_calibration_rejects_bad_params_with_the_shared_parser(text, message, capsys):
    from benchmarks import calibration
    with pytest.raises(SystemExit) as exc:
        calibration.main(["--params", text])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
