"""The command line: JSON shapes, bad input, runaway programs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.abi import DEFAULT_OFFSET
from app.cli import main
from app.examples import source


def _cli(capsys, *args) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


@pytest.fixture
def program(tmp_path):
    def write(text: str, name: str = "p.s"):
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


def test_run_json(capsys, program):
    code, out = _cli(capsys, "run", program(source("sum_array")), "--json")
    r = json.loads(out)
    assert code == 0
    assert set(r) == {"status", "exit_code", "mirror", "mirror_consistent", "console",
                      "counters", "events", "error"}
    assert (r["status"], r["exit_code"], r["mirror"], r["mirror_consistent"]) == (
        "exited", 1240, "on", True)
    assert set(r["counters"]) == {"native_instructions", "executed_instructions",
                                  "native_writes", "mirror_writes"}
    assert r["error"] is None
    assert all("kind" in e for e in r["events"])


def test_run_with_injection_and_offset(capsys, program):
    _, out = _cli(capsys, "run", program(source("sum_array")), "--mirror", "nmr3",
                  "--offset", "10000000", "--inject", "ue:table+8@117",
                  "--inject", "silent:0xa00010@117", "--json")
    r = json.loads(out)
    assert (r["status"], r["exit_code"], r["mirror_consistent"]) == ("exited", 1240, True)
    kinds = [e["kind"] for e in r["events"]]
    assert kinds.count("inject") == 2 and "recovered" in kinds


def test_unmirrored_run_has_null_consistency(capsys, program):
    _, out = _cli(capsys, "run", program(source("sum_array")), "--mirror", "off", "--json")
    assert json.loads(out)["mirror_consistent"] is None


def test_runaway_loop_stops_at_the_budget(capsys, program):
    code, out = _cli(capsys, "run", program("main:\n1:  incq %rax\n    jmp 1b\n"),
                     "--max-steps", "5000", "--json")
    r = json.loads(out)
    assert code == 1
    assert r["status"] == "limit"
    assert r["counters"]["native_instructions"] == 5000


@pytest.mark.parametrize("text,line", [
    ("main:\n  movl $1, %eax\n  mvol %eax, %ebx\n  ret\n", 3),
    ("main:\n  ret\n  .rept 3\n", 3),
    ("main:\n  jmp nowhere\n", 2),
    ("main:\n  movq %rax, (%rax,%rsp)\n", 2),
])
def test_malformed_assembly_gives_a_line(capsys, program, text, line):
    code, out = _cli(capsys, "run", program(text), "--json")
    r = json.loads(out)
    assert code == 1
    assert r["status"] == "error"
    assert r["error"]["line"] == line
    assert r["error"]["message"]


def test_plain_output_is_readable(capsys, program):
    code, out = _cli(capsys, "run", program(source("sum_array")), "--inject",
                     "ue:table@117")
    assert code == 0
    assert "exit code: 1240" in out and "recovered" in out


def test_rewrite_json(capsys, program):
    code, out = _cli(capsys, "rewrite", program(source("sum_array")), "--json")
    r = json.loads(out)
    assert code == 0 and r["offset"] == DEFAULT_OFFSET
    line = next(x for x in r["lines"] if x["native"]["text"].startswith("movl    %edx"))
    assert set(line["native"]) >= {"line", "address", "text"}
    roles = [m["role"] for m in line["rewritten"]]
    assert roles == ["native", "mirror"]
    assert f"table+{DEFAULT_OFFSET:#x}" in line["rewritten"][1]["text"]
    assert all(set(m) == {"address", "text", "role"} for m in line["rewritten"])


def test_rewrite_side_by_side(capsys, program):
    code, out = _cli(capsys, "rewrite", program(source("sum_array")), "--mirror", "nmr3")
    assert code == 0
    assert f"{2 * DEFAULT_OFFSET:#x}" in out and " M " in out and " E " in out  # copy 2


def test_large_offset_uses_a_scratch_sequence(capsys, program):
    _, out = _cli(capsys, "rewrite", program(source("sum_array")), "--offset",
                  "100000000", "--json")
    r = json.loads(out)
    texts = [m["text"] for x in r["lines"] for m in x["rewritten"]]
    assert any(t.startswith("movabsq $0x100000000") for t in texts)
    _, out = _cli(capsys, "run", program(source("sum_array")), "--offset", "100000000",
                  "--json")
    r = json.loads(out)
    assert (r["status"], r["exit_code"], r["mirror_consistent"]) == ("exited", 1240, True)


def test_bad_arguments_are_rejected():
    for args in (["run", "x.s", "--offset", "zz"], ["run", "x.s", "--inject", "ue-table"],
                 ["run", "x.s", "--mirror", "double"]):
        r = subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True,
                           text=True)
        assert r.returncode == 2 and "error" in r.stderr


def test_missing_file(capsys):
    code, out = _cli(capsys, "run", "/nonexistent/p.s")
    assert code == 1 and "error: cannot read /nonexistent/p.s" in out
    code, out = _cli(capsys, "run", "/nonexistent/p.s", "--json", "--mirror", "nmr3")
    r = json.loads(out)   # --json keeps its promise of one object
    assert code == 1 and (r["status"], r["mirror"], r["exit_code"]) == ("error", "nmr3", None)
    assert r["error"] == {"message": "cannot read /nonexistent/p.s: No such file or directory",
                          "line": None}
    code, out = _cli(capsys, "rewrite", "/nonexistent/p.s", "--json")
    assert code == 1 and json.loads(out)["error"]["message"].startswith("cannot read")


def test_injections_that_cannot_happen_are_reported(capsys, program):
    path = program(source("sum_array"))
    code, out = _cli(capsys, "run", path, "--json", "--inject", "ue:table@99999",
                     "--inject", "ce:table@20", "--max-steps", "100000")
    r = json.loads(out)
    assert code == 0 and r["status"] == "exited"
    skipped = [e for e in r["events"] if e["kind"] == "inject_skipped"]
    assert [e["injection"] for e in skipped] == ["ue:table@99999"]
    assert "had exited after" in skipped[0]["reason"]
    code, out = _cli(capsys, "run", path, "--json", "--inject", "ue:table@2")
    r = json.loads(out)  # too early: the guest kernel maps the program by hypercall
    assert r["status"] == "error" and "not mapped the program" in r["error"]["message"]


def test_an_offset_below_the_program_is_explained(capsys, program):
    code, out = _cli(capsys, "run", program(source("sum_array")), "--offset", "1000")
    assert code == 1
    assert "text [0x400000," in out and "use at least 0x1000000" in out


def test_text_that_crashes_the_encoder_is_an_error_with_its_line(capsys, program):
    # Keystone exits the whole process on this ordinary-looking line (a high-byte
    # register next to a REX prefix); the isolated encoder turns it into an error
    text = "main:\n  movl $1, %eax\n  movb %ah, (%r8)\n  ret\n"
    code, out = _cli(capsys, "run", program(text), "--json")
    r = json.loads(out)
    assert r["status"] == "error" and r["error"]["line"] == 3
    assert "crashed" in r["error"]["message"]
    # and the next program assembles as usual, in a fresh encoder
    code, out = _cli(capsys, "run", program(source("sum_array")), "--json")
    assert json.loads(out)["exit_code"] == 1240


@pytest.mark.parametrize("text,words", [
    ("main:\n  pushq $0xffffffff\n  ret\n", "cannot encode|does not fit"),
    ("main:\n  movl $0x100000000, %eax\n  ret\n", "does not fit"),
    ("main:\n  lodsb (%rbx)\n  ret\n", "does not encode as written"),
    ("main:\n  movb %ah, %sil\n  ret\n", "does not encode as written"),
    ("main:\n  movq %rip, %rax\n  ret\n", "%rip"),
    ("main:\n  movq 0x100000000(%rax), %rax\n  ret\n", "does not encode as written"),
])
def test_silent_misencodings_are_caught(capsys, program, text, words):
    _, out = _cli(capsys, "run", program(text), "--json")
    r = json.loads(out)
    assert r["status"] == "error" and r["error"]["line"] == 2
    assert re.search(words, r["error"]["message"])


@pytest.mark.parametrize("text,line,words", [
    ("main:\n  movl $1, msg(%rip)\n  ret\n  .section .rodata\nmsg: .long 0\n", 2,
     "read-only"),
    ("main:\n  xorl %ecx, %ecx\n  cltd\n  idivl %ecx\n  ret\n", 4, "divide error"),
    ("main:\n  call main\n  ret\n", 2, "stack overflow"),
    ("main:\n  ud2\n", 2, "invalid instruction"),
])
def test_guest_faults_name_the_line(capsys, program, text, line, words):
    code, out = _cli(capsys, "run", program(text), "--json")
    r = json.loads(out)
    assert code == 1 and r["status"] == "fault"
    assert r["error"]["line"] == line and words in r["error"]["message"]


def test_every_server_setting_is_documented_and_checked(capsys):
    """`--set` takes exactly the keys docs/operations.md describes."""
    from app.web import DEFAULTS
    doc = (Path(__file__).parents[1] / "docs" / "operations.md").read_text()
    missing = [k for k in DEFAULTS if f"`{k}`" not in doc]
    assert not missing, f"not in docs/operations.md: {missing}"
    assert main(["serve", "--set", "NO_SUCH_LIMIT=1"]) == 2
    assert "unknown setting 'NO_SUCH_LIMIT'" in capsys.readouterr().err
    assert main(["serve", "--set", "MAX_TABS=many"]) == 2
    assert "MAX_TABS needs a number" in capsys.readouterr().err
