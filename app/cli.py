"""The `kmemvisor` command: run, rewrite, bench, check and serve."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from app.abi import DEFAULT_OFFSET, parse_offset
from app.contracts import ErrorKind, Mode, Stop

_INJECT = re.compile(rf"^({'|'.join(ErrorKind)}):(.+)@(\d+)$")


def _offset(text: str) -> int:
    try:
        return parse_offset(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) == 0 or len(text) > 12:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number from 1 to 10^12")
    return int(text)


def _inject(text: str) -> tuple[str, str, int]:
    m = _INJECT.match(text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not KIND:TARGET@STEP (KIND: ce, ue, silent, dimm)")
    return m.group(1), m.group(2), int(m.group(3))


class _Unreadable(Exception):
    pass


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise _Unreadable(f"cannot read {path}: {e.strerror}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from app.session import error_result, run_program
    try:
        source = _read(args.program)
    except _Unreadable as e:
        result = error_result(args.mirror, {"message": str(e), "line": None})
    else:
        result = run_program(source, args.mirror, args.offset, args.max_steps, args.inject)
    if args.json:
        print(json.dumps(result))
    else:
        from app.session import describe_result
        print(describe_result(result))
    return 0 if result["status"] == Stop.EXITED else 1


def cmd_rewrite(args: argparse.Namespace) -> int:
    from app.asm.errors import AsmError
    from app.rewriter.build import build
    try:
        b = build(_read(args.program), args.mirror, args.offset)
    except (AsmError, _Unreadable) as e:
        error = e.to_json() if isinstance(e, AsmError) else {"message": str(e), "line": None}
        if args.json:
            print(json.dumps({"error": error}))
        else:
            print(f"error: {e}", file=sys.stderr)
        return 1
    lines = [g for g in b.rewritten.groups if g.origin == "program"]
    if args.json:
        print(json.dumps({"offset": args.offset, "mirror": args.mirror,
                          "lines": [g.to_json() for g in lines]}))
        return 0
    from app.rewriter.listing import side_by_side
    print(side_by_side(lines, args.offset, args.mirror))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.which == "roundtrip":
        from app.bench.roundtrip import main as roundtrip
        return roundtrip(json_output=args.json)
    if args.which == "fanout":
        from app.bench.fanout import main as fanout
        return fanout(json_output=args.json, students=args.students or 200)
    if args.which == "load":
        from app.bench.load import main as load
        return load(json_output=args.json, students=args.students or 100, solos=args.solos,
                    seconds=args.seconds)
    if args.which == "memory":
        from app.bench.memory import main as memory
        return memory(json_output=args.json)
    if args.which == "assemble":
        from app.bench.assemble import main as assemble
        return assemble(json_output=args.json)
    if args.which == "webrun":
        from app.bench.webrun import main as webrun
        return webrun(json_output=args.json, budget=args.budget, rounds=args.rounds,
                      settings=tuple(args.set))
    if args.which == "draw":
        from app.bench.draw import main as draw
        return draw(json_output=args.json)
    if args.which == "forks":
        from app.bench.forks import main as forks
        return forks(json_output=args.json, students=args.students or 40)
    if args.which == "paths":
        from app.bench.run_paths import main as paths
        return paths(json_output=args.json, steps=args.steps, scale=args.scale)
    from app.bench.overhead import main as overhead
    return overhead(json_output=args.json)


def cmd_check(args: argparse.Namespace) -> int:
    from app.lessons import check_lesson
    failed = 0
    for path in args.lessons:
        problems = check_lesson(path)
        for p in problems:
            print(p)
        if problems:
            failed += 1
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from app.web import DEFAULTS
    from app.web.server import serve
    config = {}
    if args.database:
        config["DATABASE"] = args.database
    for item in args.set:
        key, _, value = item.partition("=")
        key = key.strip().upper()
        if key not in DEFAULTS:
            print(f"kmemvisor serve: unknown setting '{key}' (see docs/operations.md)",
                  file=sys.stderr)
            return 2
        try:
            config[key] = type(DEFAULTS[key])(value)
        except ValueError:
            print(f"kmemvisor serve: {key} needs a number, not '{value}'", file=sys.stderr)
            return 2
    return serve(args.host, args.port, config)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # output piped into `head` and the like
        return 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kmemvisor", description="kMemvisor Lab: software "
                                "memory mirroring in a hypervisor, made visible.")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_run_parser, _rewrite_parser, _bench_parser, _check_parser, _serve_parser):
        add(sub)
    return p


def _run_parser(sub) -> None:
    r = sub.add_parser("run", help="run a program headless")
    r.add_argument("program")
    r.add_argument("--mirror", choices=[str(m) for m in Mode], default=Mode.ON.value)
    r.add_argument("--offset", type=_offset, default=DEFAULT_OFFSET, metavar="HEX")
    r.add_argument("--max-steps", type=int, default=10_000_000, metavar="N",
                   help="budget of native instructions (default 10 million)")
    r.add_argument("--inject", type=_inject, action="append", default=[],
                   metavar="KIND:TARGET@STEP")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_run)


def _rewrite_parser(sub) -> None:
    w = sub.add_parser("rewrite", help="show the mirrored program beside the native one")
    w.add_argument("program")
    w.add_argument("--mirror", choices=[str(m) for m in Mode if m.copies],
                   default=Mode.ON.value)
    w.add_argument("--offset", type=_offset, default=DEFAULT_OFFSET, metavar="HEX")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=cmd_rewrite)


def _bench_parser(sub) -> None:
    b = sub.add_parser("bench", help="benchmarks: the overhead table (native vs mirrored), "
                       "the step round trip, the classroom fan-out over Socket.IO, or "
                       "the engine's slow paths (single steps, watchpoints, patrols), or "
                       "a class at once (an unrelated step's round trip under load), or "
                       "loading programs (beside GNU as), or the memory an undoable step holds, "
                       "or a full-speed run from the page against the same from the CLI, "
                       "or a step as the page draws it (Chromium), or a class's wave of "
                       "forks under the instructor's steps")
    b.add_argument("which", nargs="?",
                   choices=("overhead", "roundtrip", "fanout", "paths", "load", "assemble",
                            "memory", "webrun", "draw", "forks"),
                   default="overhead")
    b.add_argument("--students", type=_positive, default=None,
                   help="fanout: clients following (200); load: students following (100); "
                   "forks: students forking at once (40)")
    b.add_argument("--solos", type=_positive, default=20,
                   help="load: solo workspaces stepping and running")
    b.add_argument("--seconds", type=_positive, default=20, help="load: how long")
    b.add_argument("--steps", type=_positive, default=200_000,
                   help="paths: single steps to measure")
    b.add_argument("--scale", type=_positive, default=1,
                   help="paths: multiplies the runs' sizes")
    b.add_argument("--budget", type=_positive, default=20_000_000,
                   help="webrun: native instructions per run")
    b.add_argument("--rounds", type=_positive, default=3, help="webrun: runs of each kind")
    b.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="webrun: a setting of the server it starts (as serve --set)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench)


def _check_parser(sub) -> None:
    c = sub.add_parser("check", help="check lessons: schema, then the script run headless")
    c.add_argument("lessons", nargs="+", metavar="LESSON")
    c.set_defaults(func=cmd_check)


def _serve_parser(sub) -> None:
    s = sub.add_parser("serve", help="start the visualizer")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a limit of the server, e.g. MAX_TABS=2000 (docs/operations.md)")
    s.add_argument("--database", metavar="PATH",
                   help="SQLite file for classrooms (default instance/kmemvisor.sqlite3)")
    s.set_defaults(func=cmd_serve)


if __name__ == "__main__":
    sys.exit(main())
