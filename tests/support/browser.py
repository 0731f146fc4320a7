"""Drive Label Studio 1.23.2's web UI in a real Chromium (Playwright for Python), as a person does.

Debian's ``/usr/bin/chromium`` is used (``make test`` installs it; Playwright's own browser download
is not needed).  Helpers, each a step a person takes in the UI:

* :func:`launch` -- a headless Chromium.
* :func:`log_in`, :func:`create_project` (name + custom labelling config pasted into the code
  editor), :func:`connect_model` (Settings > Model > Connect Model, optionally with basic auth),
  :func:`import_file` (the data manager's Import dialog, Upload file, Import).
* :func:`choose` (a Choice by clicking it or by its hotkey) and :func:`submit`.
* :class:`NetworkLog` -- what the browser's page received: every annotation submit
  (``POST /api/tasks/<id>/annotations``) with its status and body, every next-task answer
  (the labelling stream asks ``POST /api/dm/actions?id=next_task``; ``GET /api/projects/<id>/next/``
  is recorded too) with the task served, and when.
* :class:`Screens` -- numbered screenshots into a folder.

Label Studio's modals (create project, import, connect model) animate in; while they do,
Playwright's hit-target check sees the modal's own wrapper over the controls inside it and refuses
the click although the control is the topmost element at its position (checked with
``document.elementFromPoint``).  :func:`press` therefore waits until the control is visible and
then clicks it at its position without that check.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")
VIEWPORT = {"width": 1400, "height": 900}
#: the labelling stream's next-task requests (the data manager's action, and the API a script would call)
_NEXT = re.compile(r"/api/(dm/actions\?.*\bid=next_task\b|projects/\d+/next/?(\?|$))")
_SUBMIT = re.compile(r"/api/tasks/(\d+)/annotations/?(\?|$)")
#: Label Studio's text when the queue has nothing left for this annotator
NO_MORE_TASKS = "No More Tasks Left in Queue"


def launch(playwright):
    """A headless Chromium from Debian's package."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))


def press(locator, timeout: float = 30_000) -> None:
    """Click a control once it is visible (see the module docstring for why without the hit-target check)."""
    locator.wait_for(state="visible", timeout=timeout)
    locator.click(force=True, timeout=timeout)


def press_until(locator, shown, attempts: int = 3, timeout: float = 5_000) -> None:
    """Press ``locator`` until ``shown`` (a locator) becomes visible: a control rendered while its dialog is
    still loading can be replaced under the click, which is then lost."""
    for attempt in range(attempts):
        press(locator)
        try:
            shown.wait_for(state="visible", timeout=timeout)
            return
        except Exception:
            if attempt == attempts - 1:
                raise


# ------------------------------------------------------------------ what the page received
@dataclass
class Served:
    """One next-task answer: the task id (None: no task), the accepted submits the page had made before it,
    when the page asked (``asked``, the request's start, epoch seconds) and when the answer was seen."""

    task: int | None
    status: int
    after_submits: int
    asked: float
    at: float
    ref: str | None = None


@dataclass
class Submit:
    """One annotation submit: the task, Label Studio's status and body, when."""

    task: int
    status: int
    body: str
    at: float


@dataclass
class NetworkLog:
    """Every submit and next-task answer the page received (``page.on("response")``)."""

    submits: list[Submit] = field(default_factory=list)
    served: list[Served] = field(default_factory=list)

    def attach(self, page) -> None:
        page.on("response", self._on_response)

    def _on_response(self, response) -> None:
        method, url = response.request.method, response.url
        submit = _SUBMIT.search(url)
        if submit and method == "POST":
            self.submits.append(Submit(int(submit.group(1)), response.status, _text(response), time.time()))
        elif _NEXT.search(url) and method in ("GET", "POST"):
            body = _json(response)
            task = body.get("id") if isinstance(body, dict) and response.status == 200 else None
            ref = (body.get("data") or {}).get("ref_id") if task is not None else None
            accepted = sum(s.status == 201 for s in self.submits)
            self.served.append(Served(None if task is None else int(task), response.status, accepted,
                                      _asked(response), time.time(), ref))

    @property
    def accepted(self) -> list[Submit]:
        return [s for s in self.submits if s.status == 201]

    @property
    def rejected(self) -> list[Submit]:
        return [s for s in self.submits if s.status != 201]

    def tasks_served(self) -> list[Served]:
        return [s for s in self.served if s.task is not None]


def _asked(response) -> float:
    """When the browser started the request (epoch seconds; Playwright's ``timing.startTime`` is in ms)."""
    start = (response.request.timing or {}).get("startTime")
    return start / 1000.0 if start and start > 0 else time.time()


def _text(response) -> str:
    try:
        return response.text()
    except Exception as exc:  # the body may be gone when the page navigated meanwhile
        return f"<body not readable: {type(exc).__name__}>"


def _json(response) -> Any:
    try:
        return json.loads(response.text())
    except Exception:
        return None


def is_next(response) -> bool:
    return bool(_NEXT.search(response.url)) and response.request.method in ("GET", "POST")


def is_submit(response) -> bool:
    return bool(_SUBMIT.search(response.url)) and response.request.method == "POST"


# ------------------------------------------------------------------ screenshots
@dataclass
class Screens:
    """Numbered full-page screenshots into ``folder`` (created, emptied of earlier PNGs)."""

    folder: Path
    count: int = 0

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()

    def shot(self, page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:03d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


# ------------------------------------------------------------------ the admin's steps
def log_in(page, ls_url: str, email: str, password: str) -> None:
    page.goto(ls_url + "/user/login/")
    page.fill("#email", email)
    page.fill("#password", password)
    press(page.locator("button.login-button"))
    page.wait_for_url(re.compile(re.escape(ls_url) + r"/(projects/?)?$"))


def create_project(page, ls_url: str, title: str, label_config: str) -> int:
    """Projects > Create: the name, then Labeling Setup > Custom template, the config pasted into the code
    editor, Save.  Returns the project id (from the page Label Studio opens next)."""
    page.goto(ls_url + "/projects/")
    press(page.get_by_label("Create new project"))
    page.wait_for_selector(".lsf-modal-ls.lsf-visible")
    page.fill("#project_name", title)
    press(page.get_by_text("Labeling Setup", exact=True))
    editor = page.locator(".CodeMirror")
    press_until(page.get_by_label("Create custom template"), editor)
    paste_into_editor(page, editor, label_config)
    press(page.get_by_role("button", name="Save", exact=True))
    page.wait_for_url(re.compile(r"/projects/\d+/data"))
    return int(re.search(r"/projects/(\d+)/", page.url).group(1))


def editor_text(editor) -> str:
    """What the CodeMirror editor holds (CodeMirror 5 keeps its instance on the element)."""
    return editor.evaluate("el => el.CodeMirror.getValue()")


def paste_into_editor(page, editor, text: str, attempts: int = 3) -> None:
    """Select all in the code editor, delete, paste ``text``; again until the editor holds exactly ``text``.

    A select-all pressed while the editor is still taking focus selects nothing, and the paste then lands
    beside the template's own config: the project would be saved with a config the pool does not fit.
    """
    for _ in range(attempts):
        press(editor)
        try:
            page.wait_for_function("el => el.CodeMirror.hasFocus()", arg=editor.element_handle(), timeout=5_000)
        except Exception:  # the click landed while the editor was still being laid out: focus it as a tab would
            editor.evaluate("el => el.CodeMirror.focus()")
        page.keyboard.press("Control+A")
        page.keyboard.press("Delete")
        page.keyboard.insert_text(text)  # what a paste does
        if editor_text(editor).strip() == text.strip():
            return
    raise AssertionError(f"the code editor holds {editor_text(editor)[:300]!r}, not the pasted label config")


def connect_model(page, ls_url: str, project: int, backend_url: str, title: str = "ModelPicker",
                  basic_auth: tuple[str, str] | None = None) -> dict:
    """Settings > Model > Connect Model: name, URL, (Basic Authentication, user, password), Validate and Save.

    Returns ``{"status", "body"}`` of the form's ``POST /api/ml``.
    """
    page.goto(f"{ls_url}/projects/{project}/settings/ml")
    press(page.get_by_label("Add machine learning model"))
    page.fill("input[name=title]", title)
    page.fill("input[name=url]", backend_url)
    if basic_auth is not None:
        press(page.locator("button[data-name=auth_method]"))
        press(page.get_by_test_id("select-option-label").filter(has_text="Basic Authentication"))
        page.fill("input[name=basic_auth_user]", basic_auth[0])
        page.fill("input[name=basic_auth_pass]", basic_auth[1])
    with page.expect_response(lambda r: re.search(r"/api/ml/?(\?|$)", r.url) and r.request.method == "POST",
                              timeout=60_000) as answer:
        press(page.get_by_label("Save machine learning form"))
    return {"status": answer.value.status, "body": _json(answer.value)}


def import_file(page, ls_url: str, project: int, path: Path) -> dict:
    """The data manager's Import dialog: Upload file, then Import.  Returns the final import request's
    ``{"status", "body"}`` (``POST /api/projects/<id>/reimport``)."""
    page.goto(f"{ls_url}/projects/{project}/data")
    press(page.get_by_test_id("dm-import-button").first)
    with page.expect_file_chooser() as chooser:
        press(page.get_by_label("Upload file"))
    with page.expect_response(lambda r: "/import" in r.url and r.request.method == "POST", timeout=60_000):
        chooser.value.set_files(str(path))
    with page.expect_response(lambda r: f"/api/projects/{project}/reimport" in r.url and r.request.method == "POST",
                              timeout=120_000) as answer:
        press(page.get_by_label("Finish import"))
    return {"status": answer.value.status, "body": _json(answer.value)}


# ------------------------------------------------------------------ the annotator's steps
def choice(page, value: str):
    """The Choice whose value is ``value`` in the labelling editor."""
    return page.locator(".lsf-choice").filter(has=page.locator(f"input[name='{value}']"))


def hotkey_of(page, value: str) -> str:
    """The hotkey Label Studio shows next to a Choice (``[7]`` -> ``7``)."""
    return choice(page, value).locator("sup.lsf-hint").inner_text().strip().strip("[]")


def choose(page, value: str, by_hotkey: bool) -> None:
    """Pick ``value``: press its hotkey or click it; waits until its radio button is checked."""
    target = choice(page, value)
    target.wait_for(state="visible")
    if by_hotkey:
        page.keyboard.press(hotkey_of(page, value))
    else:
        target.locator("label").click()
    target.locator("input").wait_for(state="attached")
    page.wait_for_function("el => el.checked", arg=target.locator("input").element_handle())


def submit_button(page):
    return page.get_by_test_id("bottombar-submit-button")
