"""Classroom commands: join (as instructor with the key, or student with a name), lesson
advance and jump, quiz open/answer/close, fork and follow, end. Pushes: `classroom` to
every member, `roster` to the instructor only (names and the live tally)."""

from __future__ import annotations

import logging
import secrets

from app.engine import Build
from app.lessons import LessonError
from app.web.classroom import Classroom, Member, Role
from app.web.protocol import Refused
from app.web.scheduler import Lane

log = logging.getLogger("kmemvisor.web")
MAX_NAME = 40
ENDED_BY_INSTRUCTOR = "ended by the instructor"


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


def register(hub, dispatch) -> None:
    def member_of(sid: str, role: Role | None = None) -> tuple[Classroom, Member]:
        room = hub.classrooms.of(sid)
        member = room.member(sid) if room else None
        if room is None or member is None:
            raise Refused("you are not in a classroom")
        if role and member.role != role:
            hub.store.refused(room.code, member.student, "classroom command",
                              f"needs the {role.value}")
            log.warning("classroom %s: refused a %s command from %s", room.code,
                        role.value, member.name)
            raise Refused(f"only the {role.value} can do that")
        return room, member

    def on(name: str, role: Role | None = None):
        def wrap(fn):
            @dispatch.connection(name)
            def handler(sid, data):
                room, member = member_of(sid, role)
                result = fn(room, member, data, sid) or {}
                if member.role == Role.INSTRUCTOR:
                    room.save()
                return result
            return fn
        return wrap

    @on("advance", Role.INSTRUCTOR)
    def advance(room: Classroom, _m, _d, _sid):
        ws = room.workspace
        if ws.running:
            raise Refused("the VMs are running: pause first")
        with room.lock:
            if room.position + 1 >= len(room.lesson.steps):
                raise Refused("this was the lesson's last step")
        hub.scheduler.call(ws.id, lambda: _do_step(room), Lane.HEAVY, timeout=120)
        push_state(hub, room)

    def _do_step(room: Classroom) -> None:
        ws = room.workspace
        if ws.running:
            raise Refused("the VMs are running: pause first")
        with room.lock:
            room.position += 1
            step = room.lesson.steps[room.position]
            room.quiz, room.checks = None, []
        checks = []
        try:
            for action in step.actions:
                events = ws.session.perform(action,
                                            progress=lambda p: hub.publish(ws, *p[:1], False, p[1]))
                hub.publish(ws, events,
                            True if action.verb in ("run", "run_to", "back") else None)
        except LessonError as e:
            checks = [{"text": e.message, "ok": False, "seen": "the action failed"}]
        else:
            checks = ws.session.checked(step.checks)
        with room.lock:
            room.checks = checks
        hub.saved(ws)

    @on("goto", Role.INSTRUCTOR)
    def goto(room: Classroom, _m, d, _sid):
        position = int(d["position"])
        with room.lock:
            if not -1 <= position < len(room.lesson.steps):
                raise Refused(f"the lesson has steps 0 to {len(room.lesson.steps) - 1}")
            room.position, room.quiz, room.checks = position, None, []
        push_state(hub, room)

    @on("quiz_open", Role.INSTRUCTOR)
    def quiz_open(room: Classroom, _m, _d, _sid):
        with room.lock:
            if room.position < 0 or room.lesson.steps[room.position].quiz is None:
                raise Refused("this step has no quiz")
            room.store.clear_answers(room.code, room.position)
            room.quiz = {"step": room.position, "open": True}
        push_state(hub, room)

    @on("quiz_close", Role.INSTRUCTOR)
    def quiz_close(room: Classroom, _m, _d, _sid):
        with room.lock:
            if room.quiz is None:
                raise Refused("no quiz is open")
            room.quiz = {**room.quiz, "open": False}
        push_state(hub, room)

    @on("answer", Role.STUDENT)
    def answer(room: Classroom, member: Member, d, _sid):
        with room.lock:
            if room.quiz is None or not room.quiz["open"]:
                raise Refused("no quiz is open")
            step = room.quiz["step"]
            choices = room.lesson.steps[step].quiz.choices
            if not 0 <= d["choice"] < len(choices):
                raise Refused(f"choose 0 to {len(choices) - 1}")
        room.store.answer(room.code, step, member.student, d["choice"])
        hub.socketio.emit("roster", room.roster(), to=room.teach_room)
        return {"choice": d["choice"], "step": step}

    @on("fork", Role.STUDENT)
    def fork(room: Classroom, member: Member, _d, sid):
        # the class's state is copied in one short job (shared by every fork of the
        # same moment); the copy is built on the new workspace's own line
        saved = hub.scheduler.call(room.workspace.id, lambda: hub.saved_state(room.workspace),
                                   Lane.INTERACTIVE, timeout=60)
        mine = hub.new_workspace(lambda: hub.engines.start(Build.RESTORE, saved),
                                 hub.address_of(sid), kind="fork")
        hub.attach(sid, mine)
        with room.lock:
            member.following, member.fork = False, mine.id
        room.store.set_fork(room.code, member.student, mine.id)
        hub.socketio.emit("roster", room.roster(), to=room.teach_room)
        return {"following": False}

    @on("checks", Role.STUDENT)
    def fork_checks(room: Classroom, member: Member, _d, _sid):
        """A forked student's checkpoints of the lesson's step, verified on the fork."""
        with room.lock:
            position, fork = room.position, member.fork
        if member.following or fork is None:
            raise Refused("you follow the class: its checkpoints are the ones shown")
        ws = hub.workspaces.get(fork)
        if ws is None or position < 0:
            return {"position": position, "checks": []}
        step = room.lesson.steps[position]
        found = hub.scheduler.call(ws.id, lambda: ws.session.checked(step.checks),
                                   Lane.INTERACTIVE, timeout=30)
        return {"position": position, "checks": found}

    @on("follow", Role.STUDENT)
    def follow(room: Classroom, member: Member, _d, sid):
        hub.attach(sid, room.workspace)
        with room.lock:
            member.following, member.fork = True, None
        room.store.set_fork(room.code, member.student, None)
        push_state(hub, room, to=sid)
        hub.socketio.emit("roster", room.roster(), to=room.teach_room)
        return {"following": True}

    @on("end", Role.INSTRUCTOR)
    def end(room: Classroom, _m, _d, _sid):
        end_classroom(hub, room, ENDED_BY_INSTRUCTOR)


def end_classroom(hub, room: Classroom, why: str) -> None:
    """Tell every member, then close the classroom for good."""
    hub.socketio.emit("classroom", {**room.state(), "ended": why}, to=room.room)
    for sid in hub.classrooms.end(room, why):
        hub.socketio.server.leave_room(sid, room.room, namespace="/")
        hub.socketio.server.leave_room(sid, room.teach_room, namespace="/")
