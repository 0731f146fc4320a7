"""Run the core CLI in-process, the way its tests need it."""
import io
import sys

from modelpicker_core.cli import main


def run_main(argv, capsys, stdin_text=None, monkeypatch=None):
    """``(exit code, stdout, stderr)`` of ``python -m modelpicker_core <argv>``; no traceback may reach stderr.

    ``stdin_text`` (with pytest's ``monkeypatch``) is what the command reads from standard input.
    """
    if stdin_text is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin_text))
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err
