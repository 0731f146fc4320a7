"""``make run``: the whole product on one machine, for a first look.

``python -m demo run`` starts Label Studio (its own venv, SQLite, loopback),
the ModelPicker backend, and Redis with an rq worker when ``redis-server`` is
installed; creates the digits demo project through Label Studio's API,
connects the backend with write-back on, and prints where to click.  Ctrl-C
stops everything it started.  ``python -m demo serve --pool FILE`` runs the
backend alone on your own pool (``make serve POOL=...``).

One job per module: :mod:`demo.config` (paths, ports, environments),
:mod:`demo.credentials` (the admin login kept between runs),
:mod:`demo.processes` (process groups, waiting with progress),
:mod:`demo.stack` (finding a stack that is already up),
:mod:`demo.lsapi` (the Label Studio calls of the set-up),
:mod:`demo.instructions` (what is printed), :mod:`demo.run` (the
orchestration), :mod:`demo.serve`, :mod:`demo.lock` (``constraints.txt``).
"""
