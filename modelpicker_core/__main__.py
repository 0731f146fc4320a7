"""``python -m modelpicker_core``: see :mod:`modelpicker_core.cli`."""
from .cli import main

raise SystemExit(main())
