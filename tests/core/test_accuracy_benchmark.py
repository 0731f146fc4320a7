"""benchmarks/accuracy_estimates.py: the consensus accuracy estimates are compared with the truth."""

import numpy as np
import pytest

from benchmarks import accuracy_estimates
from modelpicker_core.synth import generate, spec_for, write_collection  # noqa: E402


def test_one_realisation_reads_the_estimates_at_every_mark(tmp_path):
    write_collection(generate(spec_for("near-ties", n_items=600), seed=0), tmp_path / "c")
    accuracy_estimates.calibration._init(str(tmp_path / "c"))
    rows = accuracy_estimates.realisation((0, 0, 300, [0, 15], {"n_samples": 64, "n_draws": 2}))
    assert rows.shape == (2, 4, 8)
    est, low, high, truth = rows[1]
    assert np.all(low <= est) and np.all(est <= high)
    assert np.abs(est - truth).mean() < 0.05
    summary = accuracy_estimates.summarise(rows[None], [0, 15])
    assert [s["labels"] for s in summary] == [0, 15]
    assert summary[1]["mean_abs_error"] == pytest.approx(np.abs(est - truth).mean(), abs=1e-4)
    assert 0.0 <= summary[1]["interval_contains_truth"] <= 1.0


@pytest.mark.parametrize("argv, message", [(["--labels", "0,x"], "not an integer"),
                                           (["--collections", "nope"], "unknown collection"),
                                           (["--params", "[1]"], "JSON object"),
                                           (["--realizations", "0"], ">= 1")])
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        accuracy_estimates.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
