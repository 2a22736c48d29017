"""The quiz of a lesson step: the instructor opens and closes it (closing reveals the
answer and the tally to everyone), students answer while it is open."""

from __future__ import annotations

from app.web.class_sockets import MemberCommands, as_member, push_state
from app.web.classroom import Classroom, Member, Role
from app.web.protocol import Refused


class QuizCommands(MemberCommands):
    @as_member("quiz_open", Role.INSTRUCTOR)
    def open(self, room: Classroom, _m, _d, _sid):
        with room.lock:
            if room.position < 0 or room.lesson.steps[room.position].quiz is None:
                raise Refused("this step has no quiz")
            room.store.clear_answers(room.code, room.position)
            room.quiz = {"step": room.position, "open": True}
        push_state(self.hub, room)

    @as_member("quiz_close", Role.INSTRUCTOR)
    def close(self, room: Classroom, _m, _d, _sid):
        with room.lock:
            if room.quiz is None:
                raise Refused("no quiz is open")
            room.quiz = {**room.quiz, "open": False}
        push_state(self.hub, room)

    @as_member("answer", Role.STUDENT)
    def answer(self, room: Classroom, member: Member, d, _sid):
        with room.lock:
            if room.quiz is None or not room.quiz["open"]:
                raise Refused("no quiz is open")
            step = room.quiz["step"]
            choices = room.lesson.steps[step].quiz.choices
            if not 0 <= d["choice"] < len(choices):
                raise Refused(f"choose 0 to {len(choices) - 1}")
        room.store.answer(room.code, step, member.student, d["choice"])
        self.roster_changed(room)
        return {"choice": d["choice"], "step": step}


__all__ = ["QuizCommands"]
