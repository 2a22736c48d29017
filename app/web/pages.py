"""The page itself and the browser packages installed from npm at set-up."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, request, send_from_directory

from app.contracts import constants
from app.session import (
    DEFAULT_EXAMPLE,
    ERROR_CARDS,
    ERROR_KINDS,
    example_names,
    example_source,
)

bp = Blueprint("pages", __name__)

# file served -> where npm put it (under node_modules)
VENDOR = {"socket.io.min.js": "socket.io-client/dist/socket.io.min.js"}

SHORTCUTS = [
    ("→ or s", "step one native instruction (its whole rewritten group)"),
    ("Shift+→ or i", "step one rewritten instruction"),
    ("← or b", "step back"),
    ("Shift+←", "go forward again (redo)"),
    ("r", "run (at the chosen speed)"),
    ("p or Space", "pause"),
    ("0", "reset"),
    ("Ctrl+Enter", "load the program in the editor"),
    ("Esc", "leave the editor or a text field (the keys step again); close a card"),
    ("Enter on a code line", "toggle a breakpoint"),
    ("arrows, Enter", "in the host map or the memory words reached by Tab: move a cursor, pick "
     "the target (after a click there the arrows step, as everywhere)"),
    ("j / k", "inject the chosen error / focus the injection panel"),
    ("f", "presentation mode on or off (large type, the panels you pick)"),
    ("l", "show or hide the lesson (in a classroom)"),
    ("?", "show or hide this list"),
]

# the panels a teacher may pick for presentation mode (data-panel -> label)
PANELS = [("code", "1 · code"), ("registers", "2 · registers"), ("pagetables", "3 · page tables"),
          ("memory", "4 · memory"), ("host", "5 · host memory"), ("console", "6 · console and log"),
          ("editor", "7 · program"), ("inject", "8 · error injection")]


def page_context(classroom: str | None, share: str | None = None,
                 embed: bool = False) -> dict:
    """What index.html needs, for the solo page, a classroom, a shared session and its
    read-only view alike. Data for the scripts travels in a JSON element (a strict CSP
    allows no inline script), the contracts' constants document among it."""
    names = example_names()
    contracts = constants()
    return {"examples": names, "default": DEFAULT_EXAMPLE, "kinds": ERROR_KINDS,
            "contracts": contracts, "shortcuts": SHORTCUTS, "panels": PANELS,
            "classroom": classroom, "share": share, "embed": embed,
            "data": {"kinds": ERROR_KINDS, "cards": ERROR_CARDS, "contracts": contracts,
                     "examples": {n: example_source(n) for n in names}}}


@bp.get("/")
def index():
    return render_template("index.html", **page_context(None))


def problem(status: int, title: str, message: str, advice: str):
    """A styled page that says what went wrong and what to do."""
    return render_template("problem.html", title=title, message=message,
                           advice=advice), status


def _shared(key: str, embed: bool):
    hub = current_app.extensions["kmemvisor.hub"]
    if len(key) > 32 or not hub.store.has_share(key):
        return problem(404, "No such shared session", f"There is no shared session "
                       f"'{key[:32]}' on this server.", "Check the link you were given.")
    return render_template("index.html", **page_context(None, key, embed))


@bp.get("/s/<key>")
def shared(key: str):
    """A copy of a shared session, at the step it was shared at, to change at will."""
    return _shared(key, embed=False)


@bp.get("/embed/<key>")
def embed(key: str):
    """A read-only view of a shared session for a course page (it may be framed)."""
    return _shared(key, embed=True)


@bp.get("/vendor/<name>")
def vendor(name: str):
    if name not in VENDOR:
        abort(404)
    path = Path(current_app.config["VENDOR_DIR"]) / VENDOR[name]
    if not path.is_file():
        abort(500, description=f"{VENDOR[name]} is missing: run ./scripts/setup (npm ci)")
    return send_from_directory(path.parent, path.name, max_age=3600)


@bp.get("/healthz")
def healthz():
    """200 while the server serves and its database takes writes, else 503; either way
    with what is wrong with the database, if anything (a damaged file found at start
    and kept aside is reported, though the server works)."""
    store = current_app.extensions["kmemvisor.hub"].store.status()
    body = {"ok": store["ok"]}
    if not store["ok"] or store["damaged"]:
        body["store"] = store
    return body, 200 if store["ok"] else 503


@bp.get("/tabs")
def tabs():
    """Whether a new tab from this address would be let in now, and if not why: what a
    page that could not open its WebSocket shows."""
    why = current_app.extensions["kmemvisor.gate"].refusal(request.remote_addr or "")
    return {"ok": why is None, "why": why}


def _from_this_machine() -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/status")
def status():
    """What the server holds and how busy it is (docs/operations.md)."""
    hub = current_app.extensions["kmemvisor.hub"]
    gate = current_app.extensions["kmemvisor.gate"]
    return {"tabs": gate.status(), "workspaces": len(hub.workspaces),
            "memory_held_mb": round(hub.workspaces.held() / (1 << 20), 1),
            "memory_budget_mb": round(hub.workspaces.limits.memory / (1 << 20)),
            "classrooms_in_memory": len(hub.classrooms.in_memory()),
            "engine": hub.scheduler.status(),
            # the database's file only to the machine itself
            "store": {**hub.store.status(where=_from_this_machine()),
                      "pending_writes": hub.saver.pending()},
            "hello_deadline_closed": current_app.extensions["kmemvisor.deadline"].closed}
