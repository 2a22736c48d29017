"""Classroom commands: join (as instructor with the key, or student with a name), lesson
advance and jump, quiz open/answer/close, fork and follow. Pushes: `classroom` to every
member, `roster` to the instructor only (names and the live tally)."""

from __future__ import annotations

import logging
import secrets

from flask import request
from flask_socketio import SocketIO, join_room, leave_room

from app.lessons import LessonError, perform, verify
from app.session import from_recipe, recipe
from app.web.classroom import Classroom, Classrooms, Member
from app.web.protocol import Refused

log = logging.getLogger("kmemvisor.web")
MAX_NAME = 40


def push_state(socketio: SocketIO, room: Classroom, to: str | None = None) -> None:
    socketio.emit("classroom", room.state(), to=to or room.room)
    socketio.emit("roster", room.roster(), to=room.teach_room)


def join(socketio, workspaces, classrooms: Classrooms, publish, data: dict) -> dict:
    room = classrooms.get(data["classroom"])
    if room is None:
        raise Refused(f"there is no classroom '{data['classroom']}'")
    sid = request.sid
    if "key" in data:
        if not room.key_matches(data["key"]):
            room.store.refused(room.code, None, "hello", "wrong instructor key")
            raise Refused("this instructor link is not valid")
        member = Member("instructor", name="instructor")
    else:
        student = data.get("student")
        name = room.store.student(room.code, student) if student else None
        if name is None:
            name = " ".join(str(data.get("name", "")).split())[:MAX_NAME]
            if not name:
                raise Refused("give a display name to join")
            student = secrets.token_urlsafe(12)
            room.store.add_student(room.code, student, name)
        member = Member("student", student, name)
    leave(socketio, classrooms, sid)
    classrooms.enter(sid, room, member)
    workspaces.attach_to(sid, room.workspace)
    join_room(room.room)
    join_room(room.workspace.room)
    if member.role == "instructor":
        join_room(room.teach_room)
    publish.snapshot_to(room.workspace, sid)
    push_state(socketio, room, to=sid)
    socketio.emit("roster", room.roster(), to=room.teach_room)
    return {"ok": True, "role": member.role, "classroom": room.code,
            "student": member.student, "name": member.name}


def leave(socketio, classrooms: Classrooms, sid: str) -> None:
    room = classrooms.leave(sid)
    if room is not None:
        leave_room(room.room, sid=sid)
        leave_room(room.teach_room, sid=sid)
        socketio.emit("roster", room.roster(), to=room.teach_room)


def register(socketio, workspaces, classrooms: Classrooms, publish, command) -> None:
    def member_of(role: str | None = None) -> tuple[Classroom, Member]:
        room = classrooms.of(request.sid)
        member = room.members.get(request.sid) if room else None
        if room is None or member is None:
            raise Refused("you are not in a classroom")
        if role and member.role != role:
            room.store.refused(room.code, member.student, "classroom command",
                               f"needs the {role}")
            log.warning("classroom %s: refused a %s command from %s", room.code, role,
                        member.name)
            raise Refused(f"only the {role} can do that")
        return room, member

    def on(name: str, role: str | None = None):
        """A classroom command: not tied to the tab's current workspace (a student's
        fork), so it goes through `command` only for checking and error handling."""
        def wrap(fn):
            @command(name, while_running=True, guarded=False)
            def handler(_ws, data):
                room, member = member_of(role)
                answer = fn(room, member, data) or {}
                if member.role == "instructor":
                    with room.workspace.lock:
                        room.save()
                return answer
            return fn
        return wrap

    def _leave_current() -> None:
        """Leave the workspace this tab is on (a fork nobody watches then pauses)."""
        current = workspaces.of(request.sid)
        if current is not None:
            leave_room(current.room)
            workspaces.detach(request.sid)

    @on("advance", "instructor")
    def advance(room: Classroom, _m, _d):
        ws = room.workspace
        if ws.running:
            raise Refused("the VMs are running: pause first")
        if room.position + 1 >= len(room.lesson.steps):
            raise Refused("this was the lesson's last step")
        with ws.lock:
            if ws.running:
                raise Refused("the VMs are running: pause first")
            room.position += 1
            step = room.lesson.steps[room.position]
            room.quiz, room.checks = None, []
            try:
                for action in step.actions:
                    events = perform(ws.session, action,
                                     progress=lambda evs: publish(ws, evs, False) or True)
                    publish(ws, events, True if action.verb in ("run", "run_to", "back") else None)
            except LessonError as e:
                room.checks = [{"text": e.message, "ok": False, "seen": "the action failed"}]
            else:
                for c in step.checks:
                    ok, seen = verify(ws.session, c)
                    room.checks.append({"text": c.text, "ok": ok, "seen": seen})
        push_state(socketio, room)

    @on("goto", "instructor")
    def goto(room: Classroom, _m, d):
        if not -1 <= int(d["position"]) < len(room.lesson.steps):
            raise Refused(f"the lesson has steps 0 to {len(room.lesson.steps) - 1}")
        room.position, room.quiz, room.checks = int(d["position"]), None, []
        push_state(socketio, room)

    @on("quiz_open", "instructor")
    def quiz_open(room: Classroom, _m, _d):
        if room.position < 0 or room.lesson.steps[room.position].quiz is None:
            raise Refused("this step has no quiz")
        room.store.clear_answers(room.code, room.position)
        room.quiz = {"step": room.position, "open": True}
        push_state(socketio, room)

    @on("quiz_close", "instructor")
    def quiz_close(room: Classroom, _m, _d):
        if room.quiz is None:
            raise Refused("no quiz is open")
        room.quiz = {**room.quiz, "open": False}
        push_state(socketio, room)

    @on("answer", "student")
    def answer(room: Classroom, member: Member, d):
        if room.quiz is None or not room.quiz["open"]:
            raise Refused("no quiz is open")
        choices = room.lesson.steps[room.quiz["step"]].quiz.choices
        if not 0 <= d["choice"] < len(choices):
            raise Refused(f"choose 0 to {len(choices) - 1}")
        room.store.answer(room.code, room.quiz["step"], member.student, d["choice"])
        socketio.emit("roster", room.roster(), to=room.teach_room)

    @on("fork", "student")
    def fork(room: Classroom, member: Member, _d):
        with room.workspace.lock:
            copy = from_recipe(recipe(room.workspace.session))
        mine = workspaces.adopt(copy)
        _leave_current()
        workspaces.attach_to(request.sid, mine)
        join_room(mine.room)
        member.following = False
        publish.snapshot_to(mine, request.sid)
        socketio.emit("roster", room.roster(), to=room.teach_room)
        return {"following": False}

    @on("follow", "student")
    def follow(room: Classroom, member: Member, _d):
        _leave_current()
        workspaces.attach_to(request.sid, room.workspace)
        join_room(room.workspace.room)
        member.following = True
        publish.snapshot_to(room.workspace, request.sid)
        push_state(socketio, room, to=request.sid)
        socketio.emit("roster", room.roster(), to=room.teach_room)
        return {"following": True}
