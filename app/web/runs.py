"""Runs in the background: at full speed (the engine's free run, in turns, with a
progress event after each turn) or paced (one traced step at a time, so every write
flashes). Both stop at a breakpoint, a watchpoint, exit, kill or the budget, or when
paused, and end with a snapshot saying why."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("kmemvisor.web")

_STOPPED = {"exit": "exited"}
MAX_PACED_STEPS = 100_000  # about 3 hours at 10 steps a second


def start(socketio, ws, publish, speed, budget: int, chunk: int,
          snapshot_every: float = 1.0) -> None:
    ws.stop.clear()
    ws.running = True
    ws.error = None
    publish(ws, [], snapshot=True)
    socketio.start_background_task(_run, socketio, ws, publish, speed, budget, chunk,
                                   snapshot_every)


def _run(socketio, ws, publish, speed, budget: int, chunk: int,
         snapshot_every: float) -> None:
    stopped = "error"
    try:
        if speed == "max":
            with ws.lock:
                stopped = _free(ws, publish, budget, chunk, snapshot_every)
        else:
            stopped = _paced(ws, publish, float(speed), budget)
    except Exception as e:  # the run thread must always end the run cleanly
        log.exception("run failed")
        ws.error = {"message": f"the run stopped on an internal error: {e}", "line": None}
    finally:
        with ws.lock:  # no command slips in between the end of the run and its snapshot
            ws.running = False
            try:
                snap = ws.snapshot()
            except Exception:  # still tell the tabs the run is over
                log.exception("snapshot after a run failed")
                snap = None
            if snap is not None:
                snap["stopped"] = stopped
                socketio.emit("snapshot", snap, to=ws.room)
            if ws.classroom is not None:
                ws.classroom.save()


def _free(ws, publish, budget: int, chunk: int, snapshot_every: float) -> str:
    last = [time.monotonic()]

    def progress(events):
        # run events carry no writes (the free run hooks none): a snapshot now and
        # then lets memory, page tables and the host map follow a long run
        now = time.monotonic()
        due = now - last[0] >= snapshot_every
        if due:
            last[0] = now
        publish(ws, events, snapshot=due)
        # between turns, let a late joiner take its snapshot
        ws.lock.release()
        try:
            time.sleep(0.0005)
        finally:
            ws.lock.acquire()
        return not ws.stop.is_set()

    events = ws.session.run(budget, ws.breakpoints, ws.watchpoints, chunk=chunk,
                            progress=progress)
    if ws.stop.is_set() and events and events[-1]["stopped"] == "running":
        return "paused"
    last = [e["stopped"] for e in events if e["stopped"] != "running"]
    reason = last[0] if last else "limit"
    return _STOPPED.get(reason, reason)


def _paced(ws, publish, speed: float, budget: int) -> str:
    period = 1.0 / speed
    for _ in range(min(budget, MAX_PACED_STEPS)):
        started = time.monotonic()
        with ws.lock:
            events = ws.session.step("native")
            publish(ws, events)
            reason = _why_stop(ws, events)
        if reason:
            return reason
        if ws.stop.wait(max(0.0, period - (time.monotonic() - started))):
            return "paused"
    return "limit"


def _why_stop(ws, events: list[dict]) -> str | None:
    s = ws.session
    if not events or all(vm.status != "running" for vm in s.vms):
        first = s.vms[0].status
        return {"running": "limit"}.get(first, first)
    for e in events:
        for w in e.get("writes", ()):
            if w["copy"] == "native" and w["va"] is not None and any(
                    va < w["va"] + w["size"] and w["va"] < va + n for va, n in ws.watchpoints):
                return "watch"
    first = s.vms[0]
    if first.status == "running" and s.current_group(first) is not None and \
            s.current_group(first).native_address in ws.breakpoints:
        return "break"
    return None
