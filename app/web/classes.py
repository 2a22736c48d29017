"""Pages for the classroom: the lesson list (open a classroom), the join form, and the
classroom page itself (the visualizer with the lesson beside it). What cannot be done
is answered by a page that says why and what to do."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from app.web.class_sockets import ENDED_BY_INSTRUCTOR, end_classroom
from app.web.classroom import CODE_LENGTH
from app.web.classrooms import ClassroomsFull, NoSuchLesson
from app.web.pages import page_context, problem
from app.web.security import CSRF_FIELD, check_csrf, csrf_token, set_csrf_cookie
from app.web.store import StoreError

bp = Blueprint("classes", __name__)


def _hub():
    return current_app.extensions["kmemvisor.hub"]


def _limited(address: str):
    """A page if this address has tried too many wrong codes, else None."""
    wait = _hub().join_failures.short(address)
    if wait:
        return problem(429, "Too many wrong codes", "Too many wrong classroom codes came "
                       "from your address.", f"Wait {wait:.0f} seconds, then try again.")
    return None


def _find(code: str):
    """(classroom or None, a problem page or None)."""
    hub = _hub()
    address = request.remote_addr or ""
    limited = _limited(address)
    if limited:
        return None, limited
    try:
        room = hub.classrooms.get(code)
    except (NoSuchLesson, ClassroomsFull, StoreError) as e:
        return None, problem(503, "The classroom cannot open now", str(e),
                             "Try again in a minute; if it stays so, tell the instructor.")
    if room is None:
        hub.join_failures.take(address)
    return room, None


# the classrooms this browser opened, as CODEKEY entries joined by "." (a code is
# six letters; keys never hold a "."): the lessons page lists them with End buttons
ROOMS_COOKIE, MAX_KEPT = "kmv_rooms", 16


def _kept() -> dict[str, str]:
    raw = request.cookies.get(ROOMS_COOKIE, "")[:MAX_KEPT * 48]
    return {e[:CODE_LENGTH]: e[CODE_LENGTH:] for e in raw.split(".")
            if len(e) > CODE_LENGTH}


def _keep(response, kept: dict[str, str]) -> None:
    value = ".".join(code + key for code, key in list(kept.items())[-MAX_KEPT:])
    response.set_cookie(ROOMS_COOKIE, value, httponly=True, samesite="Strict",
                        max_age=int(_hub().classrooms.life.expire_seconds))


@bp.get("/lessons")
def lessons():
    hub = _hub()
    lessons, problems = hub.classrooms.lessons()
    kept = _kept()
    mine = hub.classrooms.owned(kept)
    token, fresh = csrf_token()
    response = make_response(render_template("lessons.html", lessons=lessons,
                                             problems=problems, mine=mine, csrf=token,
                                             csrf_field=CSRF_FIELD))
    if fresh:
        set_csrf_cookie(response, token)
    if len(mine) != len(kept):   # forget the ended ones
        _keep(response, {r["code"]: r["key"] for r in mine})
    return response


@bp.post("/classrooms/<code>/end")
def end_a_classroom(code: str):
    check_csrf()
    hub = _hub()
    kept = _kept()
    mine = {r["code"] for r in hub.classrooms.owned(kept)}
    if code not in mine:
        return problem(404, "Not one of your classrooms", f"This browser did not open a "
                       f"classroom {code[:12]} that is still open.",
                       "Only the browser that opened a classroom can end it here; its "
                       "instructor page can end it too.")
    room = hub.classrooms.in_memory_room(code)
    if room is not None:
        end_classroom(hub, room, ENDED_BY_INSTRUCTOR)
    else:
        hub.classrooms.end_closed(code, ENDED_BY_INSTRUCTOR)
    response = redirect(url_for("classes.lessons"))
    _keep(response, {c: k for c, k in kept.items() if c != code})
    return response


@bp.post("/classrooms")
def open_classroom():
    check_csrf()
    try:
        room, key = _hub().classrooms.open(request.form.get("lesson", "")[:64],
                                           request.remote_addr or "")
    except NoSuchLesson as e:
        return problem(404, "No such lesson", str(e), "Pick a lesson from the list.")
    except ClassroomsFull as e:
        return problem(503, "No room for another classroom", str(e),
                       "End a classroom you no longer need (from the lessons page, or "
                       "End the classroom on its instructor page), then open this one "
                       "again.")
    response = redirect(url_for("classes.classroom", code=room.code, key=key))
    _keep(response, {**_kept(), room.code: key})
    return response


@bp.get("/join")
def join():
    code = request.args.get("code", "").strip().upper()[:12]
    if code:
        room, page = _find(code)
        if page:
            return page
        if room is None:
            return render_template("join.html", error=f"There is no classroom {code} "
                                   "(or it has ended).", code=code), 404
        return redirect(url_for("classes.classroom", code=room.code))
    return render_template("join.html", error=None, code="")


@bp.get("/class/<code>")
def classroom(code: str):
    room, page = _find(code[:12])
    if page:
        return page
    if room is None:
        return problem(404, "No such classroom", f"There is no classroom {code[:12]} "
                       "(or it has ended).", "Check the code with your instructor.")
    return render_template("index.html", **page_context(room.code))
