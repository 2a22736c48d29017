"""Command areas: one object per area of the protocol (solo session, classroom, quiz,
shares, the connection) whose methods are marked with the command they answer.
`Dispatch.add` registers an area's marked methods, so an area is a plain class that
can be read (and tested) on its own, and each command has exactly one handler."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum

from app.web.scheduler import Lane

_MARK = "_kmv_command"


class Where(Enum):
    SESSION = "session"        # runs as a job of the tab's workspace: (ws, data, sid)
    CONNECTION = "connection"  # runs on the connection thread: (sid, data)


@dataclass(frozen=True)
class Command:
    name: str
    where: Where
    lane: Lane = Lane.INTERACTIVE
    while_running: bool = False


def on_session(name: str, lane: Lane = Lane.INTERACTIVE, while_running: bool = False):
    """Marks the handler of session command `name` (see Dispatch.session)."""
    return _mark(Command(name, Where.SESSION, lane, while_running))


def on_connection(name: str):
    """Marks the handler of connection command `name` (see Dispatch.connection)."""
    return _mark(Command(name, Where.CONNECTION))


def _mark(command: Command):
    def mark(fn: Callable) -> Callable:
        setattr(fn, _MARK, command)
        return fn
    return mark


def handlers(area: object) -> Iterator[tuple[Command, Callable]]:
    """Each marked method of `area`, bound, with the command it answers."""
    for attr in dir(type(area)):
        command = getattr(getattr(type(area), attr), _MARK, None)
        if isinstance(command, Command):
            yield command, getattr(area, attr)


__all__ = ["Command", "Where", "handlers", "on_connection", "on_session"]
