"""Classroom commands: join (as instructor with the key, or student with a name), lesson
advance and jump, fork and follow, end (the quiz: quiz_sockets.py). Pushes: `classroom`
to every member, `roster` to the instructor only (names and the live tally)."""

from __future__ import annotations

import logging
import secrets
from functools import wraps

from app.engine import Build
from app.lessons import LessonError
from app.web.areas import on_connection
from app.web.classroom import Classroom, Member, Role
from app.web.protocol import Refused
from app.web.scheduler import Lane
from app.web.workspaces import Kind

log = logging.getLogger("kmemvisor.web")
MAX_NAME = 40
ENDED_BY_INSTRUCTOR = "the instructor ended it"  # the page says "This classroom has ended: …"


def push_state(hub, room: Classroom, to: str | None = None) -> None:
    hub.socketio.emit("classroom", room.state(), to=to or room.room)
    hub.socketio.emit("roster", room.roster(), to=room.teach_room)


def _name(raw) -> str:
    name = " ".join(str(raw or "").split())[:MAX_NAME]
    if not name or not name.isprintable():
        raise Refused("give a display name to join (printable characters, up to "
                      f"{MAX_NAME})")
    return name


def join(hub, sid: str, address: str, data: dict) -> dict:
    wait = hub.join_failures.short(address)
    if wait:
        raise Refused(f"too many wrong classroom codes or keys from your address: wait "
                      f"{wait:.0f} s")
    room = hub.classrooms.get(data["classroom"])
    if room is None:
        hub.join_failures.take(address)
        raise Refused(f"there is no classroom '{data['classroom'][:12]}' (or it has ended)")
    if "key" in data:
        if not room.key_matches(data["key"]):
            hub.join_failures.take(address)
            hub.store.refused(room.code, None, "hello", "wrong instructor key")
            raise Refused("this instructor link is not valid")
        member = Member(Role.INSTRUCTOR, name="instructor")
    else:
        member = _student(hub, room, data)
    ws = room.workspace
    if member.fork:
        fork = hub.find_workspace(member.fork, address)
        if fork is not None:
            ws, member.following = fork, False
        else:
            member.fork = None
    leave(hub, sid)
    hub.classrooms.enter(sid, room, member)
    hub.attach(sid, ws)
    hub.socketio.server.enter_room(sid, room.room, namespace="/")
    if member.role == Role.INSTRUCTOR:
        hub.socketio.server.enter_room(sid, room.teach_room, namespace="/")
    hub.store.touch_classroom(room.code)
    push_state(hub, room, to=sid)
    return {"role": member.role.value, "classroom": room.code, "student": member.student,
            "name": member.name, "following": member.following}


def _student(hub, room: Classroom, data: dict) -> Member:
    student = data.get("student")
    known = hub.store.student(room.code, student) if student else None
    if known is not None:
        name, fork = known
        return Member(Role.STUDENT, student, name, fork=fork)
    name = _name(data.get("name"))
    student = secrets.token_urlsafe(12)
    hub.store.add_student(room.code, student, name)
    return Member(Role.STUDENT, student, name)


def leave(hub, sid: str) -> None:
    room = hub.classrooms.leave(sid)
    if room is not None:
        hub.socketio.server.leave_room(sid, room.room, namespace="/")
        hub.socketio.server.leave_room(sid, room.teach_room, namespace="/")
        hub.socketio.emit("roster", room.roster(), to=room.teach_room)


def as_member(name: str, role: Role | None = None):
    """Marks a classroom command: its handler gets (room, member, data, sid) for a tab in
    a classroom (with `role`, if given); the classroom's lesson state is saved after an
    instructor's command."""
    def mark(fn):
        @wraps(fn)
        def handler(self: MemberCommands, sid: str, data: dict):
            room, member = self.member_of(sid, role)
            result = fn(self, room, member, data, sid) or {}
            if member.role == Role.INSTRUCTOR:
                room.save()
            return result
        return on_connection(name)(handler)
    return mark


class MemberCommands:
    """What every classroom area needs: the hub, and who is asking."""

    def __init__(self, hub) -> None:
        self.hub = hub

    def member_of(self, sid: str, role: Role | None = None) -> tuple[Classroom, Member]:
        room = self.hub.classrooms.of(sid)
        member = room.member(sid) if room else None
        if room is None or member is None:
            raise Refused("you are not in a classroom")
        if role and member.role != role:
            self.hub.store.refused(room.code, member.student, "classroom command",
                                   f"needs the {role.value}")
            log.warning("classroom %s: refused a %s command from %s", room.code,
                        role.value, member.name)
            raise Refused(f"only the {role.value} can do that")
        return room, member

    def roster_changed(self, room: Classroom) -> None:
        self.hub.socketio.emit("roster", room.roster(), to=room.teach_room)


class LessonCommands(MemberCommands):
    """The instructor leads the lesson: the next step (its actions run on the shared
    session), a jump to any step, the end."""

    @as_member("advance", Role.INSTRUCTOR)
    def advance(self, room: Classroom, _m, _d, _sid):
        ws = room.workspace
        if ws.running:
            raise Refused("the VMs are running: pause first")
        with room.lock:
            if room.position + 1 >= len(room.lesson.steps):
                raise Refused("this was the lesson's last step")
        self.hub.scheduler.call(ws.id, lambda: self._next_step(room), Lane.HEAVY,
                                timeout=120)
        push_state(self.hub, room)

    def _next_step(self, room: Classroom) -> None:
        hub, ws = self.hub, room.workspace
        if ws.running:
            raise Refused("the VMs are running: pause first")
        with room.lock:
            room.position += 1
            started, step = room.position, room.lesson.steps[room.position]
            room.quiz, room.checks = None, []
        checks = []
        try:
            for action in step.actions:
                events = ws.session.perform(
                    action, progress=lambda p: hub.publish(ws, *p[:1], False, p[1]))
                hub.publish(ws, events,
                            True if action.verb in ("run", "run_to", "back") else None)
        except LessonError as e:
            checks = [{"text": e.message, "ok": False, "seen": "the action failed"}]
        else:
            checks = ws.session.checked(step.checks)
        with room.lock:
            if room.position == started:  # a jump meanwhile shows its own step's, none
                room.checks = checks
        hub.saved(ws)

    @as_member("goto", Role.INSTRUCTOR)
    def goto(self, room: Classroom, _m, d, _sid):
        position = int(d["position"])
        with room.lock:
            if not -1 <= position < len(room.lesson.steps):
                raise Refused(f"the lesson has steps 0 to {len(room.lesson.steps) - 1}")
            room.position, room.quiz, room.checks = position, None, []
        push_state(self.hub, room)

    @as_member("end", Role.INSTRUCTOR)
    def end(self, room: Classroom, _m, _d, _sid):
        end_classroom(self.hub, room, ENDED_BY_INSTRUCTOR)


class ForkCommands(MemberCommands):
    """A student leaves the class's session for a copy of their own, and comes back."""

    @as_member("fork", Role.STUDENT)
    def fork(self, room: Classroom, member: Member, _d, sid):
        hub, shared = self.hub, room.workspace
        # the class's state is copied in one short job (shared by every fork of the
        # same moment), with the program and snapshot its tabs have; the copy is built
        # on the new workspace's own line and starts drawn as the class was
        saved, program, snap = hub.scheduler.call(
            shared.id, lambda: (hub.saved_state(shared), shared.program(), shared.snapshot()),
            Lane.INTERACTIVE, timeout=60)
        mine = hub.new_workspace(lambda: hub.engines.start(Build.RESTORE, saved),
                                 hub.address_of(sid), kind=Kind.FORK)
        mine.start_from(program, snap)
        hub.attach(sid, mine)
        with room.lock:
            member.following, member.fork = False, mine.id
        room.store.set_fork(room.code, member.student, mine.id)
        self.roster_changed(room)
        return {"following": False}

    @as_member("checks", Role.STUDENT)
    def fork_checks(self, room: Classroom, member: Member, _d, _sid):
        """A forked student's checkpoints of the lesson's step, verified on the fork."""
        with room.lock:
            position, fork = room.position, member.fork
        if member.following or fork is None:
            raise Refused("you follow the class: its checkpoints are the ones shown")
        ws = self.hub.workspaces.get(fork)
        if ws is None or position < 0:
            return {"position": position, "checks": []}
        step = room.lesson.steps[position]
        found = self.hub.scheduler.call(ws.id, lambda: ws.session.checked(step.checks),
                                        Lane.INTERACTIVE, timeout=30)
        return {"position": position, "checks": found}

    @as_member("follow", Role.STUDENT)
    def follow(self, room: Classroom, member: Member, _d, sid):
        self.hub.attach(sid, room.workspace)
        with room.lock:
            member.following, member.fork = True, None
        room.store.set_fork(room.code, member.student, None)
        push_state(self.hub, room, to=sid)
        self.roster_changed(room)
        return {"following": True}


def end_classroom(hub, room: Classroom, why: str) -> None:
    """Tell every member, then close the classroom for good."""
    hub.socketio.emit("classroom", {**room.state(), "ended": why}, to=room.room)
    for sid in hub.classrooms.end(room, why):
        hub.socketio.server.leave_room(sid, room.room, namespace="/")
        hub.socketio.server.leave_room(sid, room.teach_room, namespace="/")
