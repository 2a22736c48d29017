"""A full-speed run from the page against the same run from the command line.

The command line's run is `kmemvisor run`'s path in this process (a session, then one
`run` of the budget; the load is not timed). The page's is a real `kmemvisor serve` in
a process of its own, driven over one Socket.IO connection as the page drives it: `load`
(one VM, the same mirror setting and offset), then `run` at speed "max" with the same
budget, timed from the command until the snapshot saying the run `stopped` has
arrived; its native instructions are that snapshot's counters. Both, mirrored and not,
interleaved round by round (the machine is shared), best of the rounds.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from app.abi import DEFAULT_OFFSET
from app.bench.crowd import Tab
from app.bench.load import BUSY
from app.bench.roundtrip import PROGRAM as STORE_LOOP
from app.bench.roundtrip import free_port, serving
from app.session import Session

# store-heavy programs that never end by themselves: each run stops at the budget
PROGRAMS = {"store loop": STORE_LOOP, "busy loop": BUSY}
BUDGET = 20_000_000   # the server's default run budget (RUN_BUDGET)
ROUNDS = 3
WEB_SHARE, MIRROR_SHARE = 0.8, 0.8  # the targets: 80 % of the CLI; within 20 % of the bound


def cli_run(source: str, mirror: str, budget: int) -> dict:
    """`kmemvisor run`'s run (app.session.headless.run_program without injections)."""
    s = Session(source, mirror, DEFAULT_OFFSET)
    t = time.perf_counter()
    events = s.run(max_native=budget)
    took = time.perf_counter() - t
    stops = [e["stopped"] for e in events if "stopped" in e]  # the run's last turn's
    return _result(s.vms[0].counters.to_json(), took, stops[-1] if stops else "none")


async def web_run(tab: Tab, source: str, mirror: str, budget: int) -> dict:
    ack = await tab.call("load", {"source": source, "mirror": mirror,
                                  "offset": DEFAULT_OFFSET, "compare": False}, timeout=120)
    if not ack["ok"]:
        raise RuntimeError(f"load refused: {ack['error']['message']}")
    stopped = tab.expect(lambda name, body: name == "snapshot" and "stopped" in body)
    t = time.perf_counter()
    ack = await tab.call("run", {"speed": "max", "budget": budget})
    if not ack["ok"]:
        raise RuntimeError(f"run refused: {ack['error']['message']}")
    snap = await asyncio.wait_for(stopped, 600)
    took = time.perf_counter() - t
    vm = snap["vms"][0]
    return _result(vm["counters"], took, snap["stopped"])


def _result(counters: dict, seconds: float, stopped: str) -> dict:
    return {"native_instructions": counters["native_instructions"],
            "native_writes": counters["native_writes"], "seconds": seconds,
            "stopped": stopped, "speed": counters["native_instructions"] / seconds}


async def _measure(base: str, programs: dict[str, str], budget: int,
                   rounds: int) -> list[dict]:
    tab = Tab(base)
    await tab.open()
    ack = await tab.call("hello", {})
    if not ack["ok"]:
        raise RuntimeError(f"hello refused: {ack['error']['message']}")
    runs: dict[tuple[str, str, str], list[dict]] = {}
    for _ in range(rounds):
        for name, source in programs.items():
            for mirror in ("off", "on"):  # interleaved: a noisy neighbour hits all alike
                runs.setdefault((name, mirror, "cli"), []).append(
                    cli_run(source, mirror, budget))
                runs.setdefault((name, mirror, "web"), []).append(
                    await web_run(tab, source, mirror, budget))
    await tab.close()
    rows = []
    for name in programs:
        for mirror in ("off", "on"):
            cli = max(runs[name, mirror, "cli"], key=lambda r: r["speed"])
            web = max(runs[name, mirror, "web"], key=lambda r: r["speed"])
            rows.append({"program": name, "mirror": mirror, "cli": cli, "web": web,
                         "web_vs_cli": web["speed"] / cli["speed"]})
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    """Mirrored against unmirrored speed, per program and path, beside 1/(1+floor)."""
    out = []
    for off, on in zip(rows[::2], rows[1::2], strict=True):
        floor = on["cli"]["native_writes"] / on["cli"]["native_instructions"]
        bound = 1 / (1 + floor)
        for path in ("cli", "web"):
            r = on[path]["speed"] / off[path]["speed"]
            out.append({"program": on["program"], "path": path, "floor": floor,
                        "bound": bound, "mirrored_vs_unmirrored": r,
                        "met": r >= MIRROR_SHARE * bound})
    return out


def measure(budget: int = BUDGET, rounds: int = ROUNDS,
            programs: dict[str, str] = PROGRAMS, settings: tuple[str, ...] = ()) -> dict:
    """The rows and ratios; `settings` are the server's (`serve --set`, e.g. RUN_CHUNK)."""
    port = free_port()
    with serving(port, *settings):
        rows = asyncio.run(_measure(f"http://127.0.0.1:{port}", programs, budget, rounds))
    for r in rows:
        for path in ("cli", "web"):
            if r[path]["stopped"] != "limit":
                raise RuntimeError(f"{r['program']} {r['mirror']} ({path}) stopped "
                                   f"{r[path]['stopped']}, not at the budget")
        if r["cli"]["native_instructions"] != r["web"]["native_instructions"]:
            raise RuntimeError(f"{r['program']} {r['mirror']}: the page ran "
                               f"{r['web']['native_instructions']} native instructions, "
                               f"the CLI {r['cli']['native_instructions']}")
    return {"budget": budget, "rounds": rounds, "settings": list(settings),
            "load_average": os.getloadavg(),
            "rows": rows, "ratios": ratios(rows)}


def table(result: dict) -> str:
    out = [f"Full-speed runs of {result['budget']:,} native instructions, one VM, offset "
           f"{DEFAULT_OFFSET:#x}: the CLI's path in-process and the page's through "
           f"kmemvisor serve over Socket.IO (best of {result['rounds']}, interleaved)"
           + "".join(f", --set {x}" for x in result["settings"]),
           f"{'program':11} {'mirror':>6} {'CLI M/s':>8} {'web M/s':>8} {'web/CLI':>8}"]
    for r in result["rows"]:
        out.append(f"{r['program']:11} {r['mirror']:>6} {r['cli']['speed'] / 1e6:8.2f} "
                   f"{r['web']['speed'] / 1e6:8.2f} {r['web_vs_cli']:8.0%}")
    out.append(f"{'program':11} {'path':>6} {'floor':>8} {'1/(1+f)':>8} {'on/off':>8}  "
               f"target (>= {MIRROR_SHARE:g} x 1/(1+f))")
    for q in result["ratios"]:
        out.append(f"{q['program']:11} {q['path']:>6} {q['floor']:8.1%} {q['bound']:8.3f} "
                   f"{q['mirrored_vs_unmirrored']:8.3f}  {'met' if q['met'] else 'not met'}")
    web_met = all(r["web_vs_cli"] >= WEB_SHARE for r in result["rows"])
    out.append(f"target: web >= {WEB_SHARE:.0%} of the CLI: {'met' if web_met else 'not met'}; "
               "load average " + " ".join(f"{x:.2f}" for x in result["load_average"]))
    return "\n".join(out)


def main(json_output: bool = False, budget: int = BUDGET, rounds: int = ROUNDS,
         settings: tuple[str, ...] = ()) -> int:
    result = measure(budget, rounds, settings=settings)
    print(json.dumps(result) if json_output else table(result))
    return 0
