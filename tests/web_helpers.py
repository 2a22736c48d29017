"""Helpers for the web tests: a Socket.IO test client that validates every push."""

from __future__ import annotations

import time

import gevent

from app.contracts import validate_event, validate_push, validate_snapshot
from app.web import create_app, socketio_of

PROGRAM_KEYS = ("source", "listing", "symbols")  # what a snapshot's program brings


class Client:
    """A test client whose received pushes are each validated against the schemas."""

    def __init__(self, app, workspace: str | None = None, hello: dict | None = None) -> None:
        self.app = app
        self.sio = socketio_of(app).test_client(app)
        self.events: list[dict] = []
        self.snapshots: list[dict] = []
        self.classroom: list[dict] = []
        self.rosters: list[dict] = []
        self.programs: list[dict] = []  # every program push, in order
        if hello is None:
            hello = {"workspace": workspace} if workspace else {}
        self.welcome = self.send("hello", hello)
        assert self.welcome["ok"], self.welcome
        self.workspace = self.welcome.get("workspace")
        self.wait(lambda: self.snapshots)

    def send(self, command: str, payload=None) -> dict:
        return self.sio.emit(command, {} if payload is None else payload, callback=True)

    def ok(self, command: str, payload=None) -> dict:
        ack = self.send(command, payload)
        assert ack["ok"], ack
        self.pump()
        return ack

    def pump(self) -> None:
        gevent.sleep(0)  # pushes from the engine threads are sent on this thread's hub
        for m in self.sio.get_received():
            (body,) = m["args"]
            if m["name"] == "events":
                assert isinstance(body, list) and body
                for event in body:
                    validate_event(event)
                    self.events.append(event)
            elif m["name"] == "snapshot":
                validate_snapshot(body)
                # joined with the program it names, as the page draws it
                assert self.programs and self.programs[-1]["id"] == body["program"]
                self.snapshots.append({**body, **{k: self.programs[-1][k] for k in PROGRAM_KEYS}})
            elif m["name"] == "program":
                validate_push("program", body)
                self.programs.append(body)
            elif m["name"] in ("classroom", "roster"):
                validate_push(m["name"], body)
                (self.classroom if m["name"] == "classroom" else self.rosters).append(body)
            else:
                raise AssertionError(f"undocumented push {m['name']}")

    def wait(self, predicate, timeout: float = 20.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pump()
            value = predicate()
            if value:
                return value
            gevent.sleep(0.01)
        raise AssertionError("timed out waiting for the server")

    @property
    def last(self) -> dict:
        return self.snapshots[-1]

    def drain(self) -> None:
        self.pump()
        self.events.clear()
        self.snapshots.clear()
        self.classroom.clear()
        self.rosters.clear()


def make_app(**config):
    return create_app({"RUN_CHUNK": 2_000, "DATABASE": ":memory:", **config})


def app_for_a_test(**config):
    """A fixture's app; afterwards its sessions' engine processes end (else each test's
    would live on until the whole run ends)."""
    app = make_app(**config)
    yield app
    workspaces = app.extensions["kmemvisor.hub"].workspaces
    for ws in workspaces.all():
        workspaces.drop(ws)
