"""Pages for the classroom: the lesson list (open a classroom), the join form, and the
classroom page itself (the visualizer with the lesson beside it)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from app.web.classroom import ClassroomsFull, NoSuchLesson
from app.web.pages import page_context

bp = Blueprint("classes", __name__)


def _classrooms():
    return current_app.extensions["kmemvisor.classrooms"]


def _find(code: str):
    try:
        return _classrooms().get(code)
    except (NoSuchLesson, ClassroomsFull) as e:
        abort(503, description=str(e))


@bp.get("/lessons")
def lessons():
    lessons, problems = _classrooms().lessons()
    return render_template("lessons.html", lessons=lessons, problems=problems)


@bp.post("/classrooms")
def open_classroom():
    try:
        room, key = _classrooms().open(request.form.get("lesson", ""))
    except NoSuchLesson as e:
        abort(404, description=str(e))
    except ClassroomsFull as e:
        abort(503, description=str(e))
    return redirect(url_for("classes.classroom", code=room.code, key=key))


@bp.get("/join")
def join():
    code = request.args.get("code", "").strip().upper()
    if code:
        if _find(code) is None:
            return render_template("join.html", error=f"There is no classroom {code}.",
                                   code=code), 404
        return redirect(url_for("classes.classroom", code=code))
    return render_template("join.html", error=None, code="")


@bp.get("/class/<code>")
def classroom(code: str):
    room = _find(code)
    if room is None:
        abort(404, description=f"there is no classroom {code}")
    return render_template("index.html", **page_context(room.code))
