"""Sessions: a program, a machine, its VMs and their history, driven by commands that
return step events (see schema.json). The web and CLI layers use only this API."""

from app.session.schema import validate_event
from app.session.session import Session, SessionError

__all__ = ["Session", "SessionError", "validate_event"]
