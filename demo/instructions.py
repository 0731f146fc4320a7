"""What ``make run`` prints once the stack is ready (and prints again when run while it is up)."""
from __future__ import annotations

from typing import Any

#: the first line of the instructions (the e2e test waits for it)
HEADLINE = "ModelPicker demo is ready"


def format_instructions(state: dict[str, Any]) -> str:
    """The URL, the login and what to click, from the stack state (:mod:`demo.stack`).

    ``state`` keys: ``ls_url``, ``backend_url``, ``email``, ``password``,
    ``project``, ``jobs`` (``"rq worker"`` or ``"inline"``), ``logs``, ``demo_dir``.
    """
    project_url = f"{state['ls_url']}/projects/{state['project']}/data"
    jobs = ("background jobs: Redis + one rq worker" if state["jobs"] == "rq"
            else "background jobs: inline in the backend (redis-server not installed; `make redis` adds it)")
    return "\n".join([
        "",
        "=" * 72,
        HEADLINE,
        "=" * 72,
        f"  Label Studio   {state['ls_url']}",
        f"  login          {state['email']}",
        f"  password       {state['password']}",
        f"  (kept in {state['demo_dir']}/admin.json; the same on every run)",
        "",
        f"  backend        {state['backend_url']}  ({jobs})",
        f"                 basic auth on: user {state.get('backend_user', 'modelpicker')!r}, password in "
        f"{state['demo_dir']}/admin.json",
        f"  logs           {state['logs']}",
        "",
        "What to do:",
        f"  1. Open {state['ls_url']} and log in with the login above.",
        f"  2. Open the project \"{state['title']}\" ({project_url}).",
        "  3. Click \"Label All Tasks\": Label Studio serves the task ModelPicker asks for first.",
        "     Choose the digit you see and submit; the next task follows the backend's new order.",
        "  4. The ranking of the 13 candidate models is in the project description",
        "     (Settings > General, or the project card): it is rewritten after every label,",
        "     and says STOP LABELLING once one candidate is certified the best within 1 point.",
        "",
        "Press Ctrl-C here to stop Label Studio, the backend and everything else this started.",
        "=" * 72,
        "",
    ])
