"""A session as a file and as a link: download its recipe or its trace, upload a
recipe, and share it under a short link (the recipe stored in SQLite under a random id)
that opens a copy of it, or a read-only view for a course page (the embed).

Files and links are replayed, so their cost is bounded before anything runs: a recipe
replays at most SHARE_NATIVE native instructions (a single step counts as STEP_COST of
them: it costs about as much as that many at full speed), a trace's events take at most
EXPORT_BYTES. Links are made at most SHARES_PER_HOUR an hour from one address.
"""

from __future__ import annotations

import json
import secrets

from app.engine import Build
from app.session import SessionError, check_replay
from app.web.areas import on_session
from app.web.limits import Rates
from app.web.protocol import Refused
from app.web.scheduler import Lane
from app.web.workspaces import Kind

# what a read-only view may do: look, and move along the recorded history
VIEWING = frozenset({"frame", "program", "back", "forward", "seek", "share", "export"})


class ShareCommands:
    """A link to a copy of the session, a file of it, and a session from a file."""

    def __init__(self, hub) -> None:
        self.hub = hub
        per_hour = hub.config["SHARES_PER_HOUR"]
        self.rates = Rates(per_hour / 3600.0, max(1.0, per_hour / 3))

    @on_session("share")
    def share(self, ws, _d, sid):
        hub, doc = self.hub, ws.session.document()
        check_replay(doc, hub.config["SHARE_NATIVE"])  # a refusal here costs no link
        wait = self.rates.take(hub.address_of(sid))
        if wait:
            raise Refused(f"too many links made from your address: wait {wait / 60:.0f} "
                          "minutes")
        key = secrets.token_urlsafe(8)
        if not hub.store.add_share(key, json.dumps(doc), len(doc["history"])):
            raise Refused("the link could not be kept: the server's database fails "
                          f"({hub.store.status()['problem']})")
        return {"share": key, "link": f"/s/{key}", "embed": f"/embed/{key}"}

    @on_session("export", Lane.HEAVY)
    def export(self, ws, d, _sid):
        config, doc = self.hub.config, ws.session.document()
        if d["what"] == "recipe":
            return {"file": doc}
        check_replay(doc, config["SHARE_NATIVE"])
        return {"file": ws.session.trace(config["EXPORT_BYTES"], config["LOAD_SECONDS"])}

    @on_session("import", Lane.HEAVY)
    def load_file(self, ws, d, _sid):
        try:
            json.dumps(d["file"], ensure_ascii=False).encode("utf-8")
        except (UnicodeEncodeError, ValueError, RecursionError):
            raise Refused("this file has text that is not UTF-8, or is nested too "
                          "deeply") from None
        config = self.hub.config
        self.hub.replace_session(ws, Build.DOCUMENT, d["file"], config["SHARE_NATIVE"],
                                 config["LOAD_SECONDS"])


def open_shared(hub, address: str, key: str, embed: bool):
    """A new workspace holding a copy of the session shared under `key` (read-only for
    an embed)."""
    doc = hub.store.share(key)
    if doc is None:
        raise Refused(f"there is no shared session '{key[:20]}' on this server")

    def make():
        try:
            return hub.engines.start(Build.DOCUMENT, doc, hub.config["SHARE_NATIVE"],
                                     hub.config["LOAD_SECONDS"])
        except SessionError as e:
            raise Refused(f"the shared session does not replay here: {e.message}") from None
    return hub.new_workspace(make, address, kind=Kind.EMBED if embed else Kind.SOLO)


__all__ = ["VIEWING", "ShareCommands", "open_shared"]
