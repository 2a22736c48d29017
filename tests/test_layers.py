"""The layers: imports go downward only (machine <- hypervisor <- session <- lessons
<- web / CLI, with the assembler and the rewriter beside, and the contracts beneath the
session and everything above it), and the web layer and the
lessons drive a session through its face (Session.FACE) only, never its parts."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from pathlib import Path

import pytest

from app.lessons import load, new_session, perform, verify
from app.session import Session, example_source
from tests.test_classroom import open_class, student, teacher
from tests.test_web_socket import native_address
from tests.web_helpers import Client, make_app

APP = Path(__file__).resolve().parents[1] / "app"
# what each package may import from the project (besides itself)
MAY_IMPORT = {
    "abi": set(), "guest": set(), "examples": set(),
    # the cyclic collector's pause, for work that makes many lasting objects
    "collector": set(),
    # the shared words, schemas and constants: beneath every layer
    "contracts": {"abi"},
    "asm": {"abi"},
    "machine": {"abi", "contracts"},
    "rewriter": {"abi", "asm", "guest", "collector"},
    "hypervisor": {"abi", "asm", "machine", "rewriter", "guest", "contracts"},
    "session": {"abi", "asm", "rewriter", "hypervisor", "examples", "contracts", "collector"},
    "lessons": {"session", "abi", "contracts"},
    "engine": {"session", "lessons", "abi", "contracts"},
    "web": {"session", "lessons", "engine", "abi", "contracts"},
    "bench": {"session", "web", "abi", "asm", "hypervisor", "rewriter", "machine", "contracts"},
    "cli": {"session", "lessons", "web", "bench", "abi", "asm", "rewriter", "contracts"},
}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "app" else None


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if node.module == "app"}
    return out


def test_imports_go_downward_only():
    wrong = []
    for path in sorted(APP.rglob("*.py")):
        rel = path.relative_to(APP)
        mine = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or \
            rel.name != "__init__.py" else None
        if mine is None:
            continue
        for module in _imports(path):
            theirs = _package(module)
            if theirs is not None and theirs != mine and theirs not in MAY_IMPORT[mine]:
                wrong.append(f"{rel}: imports {module}")
    assert wrong == []


def test_nothing_above_the_machine_and_the_hypervisor_imports_an_engine():
    wrong = [f"{p.relative_to(APP)}: {m}" for part in ("session", "lessons", "web")
             for p in sorted((APP / part).rglob("*.py")) for m in _imports(p)
             if m.split(".")[0] in ("unicorn", "capstone", "keystone")]
    assert wrong == []


def test_the_face_names_methods():
    assert all(callable(getattr(Session, name)) for name in Session.FACE)


@pytest.fixture
def used(monkeypatch):
    """The names the web layer and the lessons take from a session while it runs."""
    seen: set[tuple[str, str]] = set()
    plain = Session.__getattribute__

    def spy(self, name):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith(("app.web", "app.lessons")):
            seen.add((caller, name))
        return plain(self, name)
    monkeypatch.setattr(Session, "__getattribute__", spy)
    return seen


def _outside_the_face(seen) -> list[str]:
    return sorted(f"{caller} uses Session.{name}" for caller, name in seen
                  if name not in Session.FACE)


def test_the_web_layer_uses_only_the_sessions_face(used):
    app = make_app()
    c = Client(app)
    c.ok("load", {"source": example_source("sum_array"), "compare": True})
    for _ in range(5):
        c.ok("step")
    c.ok("step", {"granularity": "rewritten"})
    c.ok("back")
    c.ok("forward")
    c.ok("seek", {"position": 2})
    c.ok("breakpoint", {"address": native_address(c.last, "add"), "on": True})
    c.ok("watchpoint", {"target": "total", "on": True})
    c.ok("run", {"speed": 30})
    c.wait(lambda: c.snapshots and c.last.get("stopped"))
    c.ok("inject", {"kind": "ce", "target": "table", "vm": 1})
    c.ok("frame", {"frame": int(next(iter(c.last["memory"])))})
    c.ok("run", {"speed": "max"})
    c.wait(lambda: c.snapshots and c.last.get("stopped"))
    c.ok("share")
    recipe = c.ok("export", {"what": "recipe"})["file"]
    c.ok("export", {"what": "trace"})
    c.ok("import", {"file": recipe})
    c.ok("example", {"name": "calls_and_stack"})
    c.ok("reset")
    code, key = open_class(app)
    t = teacher(app, code, key)
    a = student(app, code)
    t.ok("goto", {"position": 0})
    t.ok("goto", {"position": 1})
    t.ok("step")
    a.ok("fork")
    a.ok("step")
    a.ok("follow")
    assert _outside_the_face(used) == []


def test_the_lessons_use_only_the_sessions_face(used):
    for path in sorted((APP.parent / "lessons").glob("*.md")):
        lesson = load(str(path))
        s = new_session(lesson)
        for step in lesson.steps:
            for action in step.actions:
                perform(s, action)
            for check in step.checks:
                verify(s, check)
    assert _outside_the_face(used) == []


def test_one_module_opens_the_decoder_one_handle_per_thread():
    import threading

    from app.asm.decoder import decoder
    opens = [str(p.relative_to(APP)) for p in sorted(APP.rglob("*.py"))
             for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Cs"]
    assert opens == ["asm/decoder.py"]
    mine = decoder(att=True)
    assert decoder(att=True) is mine and decoder() is not mine
    theirs = []
    t = threading.Thread(target=lambda: theirs.append(decoder(att=True)))
    t.start()
    t.join()
    assert theirs[0] is not mine


def _engine_touches(path: Path) -> list[str]:
    """Imports of Unicorn, the engine's handles (`.uc`, `._uch`) and the vCPU's private
    attributes (`cpu._x`, `vm.cpu._x`) in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""]
            found += [f"imports {n}" for n in names if n.split(".")[0] == "unicorn"]
        elif isinstance(node, ast.Attribute):
            owner = node.value
            of_cpu = isinstance(owner, ast.Name) and owner.id == "cpu" or \
                isinstance(owner, ast.Attribute) and owner.attr == "cpu"
            if node.attr in ("uc", "_uch") or of_cpu and node.attr.startswith("_"):
                found.append(f"uses .{node.attr} (line {node.lineno})")
    return found


def test_only_the_machine_touches_the_emulator():
    wrong = [f"{rel}: {what}" for path in sorted(APP.rglob("*.py"))
             if (rel := str(path.relative_to(APP))).split("/")[0] != "machine"
             for what in _engine_touches(path)]
    assert wrong == []


def test_the_engine_check_sees_what_it_forbids(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from unicorn import UC_HOOK_CODE\nimport unicorn.x86_const\n"
                      "vm.cpu.uc.hook_add(1, f)\nh = x._uch\ncpu._unmapped[1]\n"
                      "cpu.reg('rip')\n")
    assert sorted(_engine_touches(sample)) == [
        "imports unicorn", "imports unicorn.x86_const", "uses ._uch (line 4)",
        "uses ._unmapped (line 5)", "uses .uc (line 3)"]


def test_only_the_decoder_imports_capstone():
    wrong = [str(p.relative_to(APP)) for p in sorted(APP.rglob("*.py"))
             for m in _imports(p) if m.split(".")[0] == "capstone"]
    assert wrong == ["asm/decoder.py"]


# -- the faces as the code reads them (the engine process holds the real sessions, so
# the spies above, in this process, see only what the lessons take)

FACED = ("session", "engine", "lessons")  # packages an upper layer reaches by the face
_MADE = {"Session", "restore", "from_recipe", "from_document", "new_session"}


def _is_session(node: ast.AST, names: set[str]) -> bool:
    if isinstance(node, ast.Attribute):  # self.session, ws.session, self.pending
        return node.attr in ("session", "pending")
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Call):
        f = node.func
        return (f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)) in _MADE
    return False


def _session_uses(path: Path) -> list[tuple[str, int]]:
    """What a module reads of the sessions it holds: `x.session`, `x.pending`, the
    sessions it makes, and the local names bound to any of them."""
    uses = []
    for fn in ast.walk(ast.parse(path.read_text())):
        if not isinstance(fn, ast.FunctionDef):
            continue
        names: set[str] = set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    pairs = zip(target.elts, node.value.elts, strict=False) \
                        if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple) \
                        else [(target, node.value)]
                    names |= {t.id for t, v in pairs
                              if isinstance(t, ast.Name) and _is_session(v, names)}
        uses += [(node.attr, node.lineno) for node in ast.walk(fn)
                 if isinstance(node, ast.Attribute) and _is_session(node.value, names)]
    return uses


def test_the_engine_reads_only_the_sessions_face_and_the_server_only_the_engines():
    from app.engine import EngineSession
    from app.engine.host import SESSION_CALLS
    engine = [(str(p.relative_to(APP)), name, line) for p in sorted((APP / "engine").rglob("*.py"))
              for name, line in _session_uses(p)]
    # the server's side holds an engine's proxy where the engine holds the session
    proxy = {n for n in dir(EngineSession) if not n.startswith("_")}
    web = [(str(p.relative_to(APP)), name, line) for p in sorted((APP / "web").rglob("*.py"))
           for name, line in _session_uses(p)]
    assert len(engine) >= 10 and len(web) >= 30  # they see the uses: none seen is no pass
    assert [u for u in engine if u[1] not in Session.FACE] == []
    assert [u for u in web if u[1] not in proxy] == []
    assert SESSION_CALLS <= Session.FACE  # asked of the session by name


def test_the_face_check_sees_what_it_forbids(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f(self):\n    call, s = self.current, self.session\n"
                      "    s.vms\n    self.pending.hv\n    made = Session('x')\n"
                      "    made.history\n    self.current.vms\n")
    assert sorted(_session_uses(sample)) == [("history", 6), ("hv", 4), ("vms", 3)]


def test_upper_layers_import_a_faced_package_by_its_face():
    wrong = []
    for path in sorted(APP.rglob("*.py")):
        mine = path.relative_to(APP).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            parts = node.module.split(".")
            if len(parts) < 2 or parts[0] != "app" or parts[1] not in FACED or parts[1] == mine:
                continue
            face = importlib.import_module(f"app.{parts[1]}")
            inner = [".".join(parts[2:])] if len(parts) > 2 else \
                [a.name for a in node.names if inspect.ismodule(getattr(face, a.name, None))]
            wrong += [f"{path.relative_to(APP)}: app.{parts[1]}.{m}" for m in inner if m]
    assert wrong == []
    web = [p for p in (APP / "web").rglob("*.py") for node in ast.walk(ast.parse(p.read_text()))
           if isinstance(node, ast.ImportFrom) and any(a.name == "Session" for a in node.names)]
    assert web == []  # the server's side drives sessions in their engine processes
