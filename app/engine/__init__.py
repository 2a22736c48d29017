"""Sessions in engine processes of their own, for the server: `Engines.start` builds
one (`Build` says how) and returns an `EngineSession`, used as the session itself
would be. See docs/design.md, "Engine processes"."""

from app.engine.host import Build, Pace
from app.engine.processes import EngineLost
from app.engine.remote import EngineRun, Engines, EngineSession

__all__ = ["Build", "EngineLost", "EngineRun", "EngineSession", "Engines", "Pace"]
