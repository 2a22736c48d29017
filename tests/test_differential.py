"""Differential tests: the mirrored run computes what the unmirrored run and the host
CPU compute, and ends with every mirror page equal to its native page."""

from __future__ import annotations

import pytest

from tests.conftest import ASM_DIR, C_DIR, compile_to_asm, host_result, needs_gcc, run

C_PROGRAMS = sorted(C_DIR.glob("*.c"))
ASM_PROGRAMS = sorted(ASM_DIR.glob("*.s"))


def _check(source: str, expected: int | None = None) -> None:
    plain = run(source, "off")
    assert plain["status"] == "exited", plain["error"]
    if expected is not None:
        assert plain["exit_code"] == expected
    for mode in ("on", "nmr3"):
        mirrored = run(source, mode)
        assert mirrored["status"] == "exited", mirrored["error"]
        assert mirrored["exit_code"] == plain["exit_code"]
        assert mirrored["console"] == plain["console"]
        assert mirrored["mirror_consistent"] is True
        c, p = mirrored["counters"], plain["counters"]
        # the rewritten program runs the same native instructions, plus mirrors
        assert c["native_instructions"] == p["native_instructions"]
        assert c["native_writes"] == p["native_writes"]
        copies = 1 if mode == "on" else 2
        assert c["mirror_writes"] >= copies * c["native_writes"] - copies * 64


@needs_gcc
@pytest.mark.parametrize("opt", ["-O0", "-O2", "-Os", "-O3"])
@pytest.mark.parametrize("c_file", C_PROGRAMS, ids=lambda p: p.stem)
def test_gcc_output_matches_host(c_file, opt, tmp_path):
    source = compile_to_asm(c_file, opt, tmp_path)
    expected = host_result(c_file, opt, tmp_path)
    _check(source, expected)


@needs_gcc
def test_gcc_output_with_control_flow_protection(tmp_path):
    # some distributions' gcc defaults to it: endbr64 everywhere, `notrack jmp<TAB>*...`
    c_file = C_DIR / "jump_table.c"
    source = compile_to_asm(c_file, "-O2", tmp_path, "-fcf-protection=full")
    assert "notrack jmp\t" in source and "endbr64" in source
    _check(source, host_result(c_file, "-O2", tmp_path))


@pytest.mark.parametrize("asm_file", ASM_PROGRAMS, ids=lambda p: p.stem)
def test_hand_written_programs(asm_file):
    _check(asm_file.read_text())


def test_examples_run_mirrored():
    from app.examples import names, source
    for name in names():
        _check(source(name))


@needs_gcc
@pytest.mark.parametrize("opt", ["-O0", "-O2", "-Os", "-O3"])
def test_main_starts_in_the_state_linux_starts_it_in(opt, tmp_path):
    # every bit of fp_entry_state's answer checked, on the host as in the guest: a test
    # that only compares the two would pass if both read garbage alike
    c_file = C_DIR / "fp_entry_state.c"
    assert host_result(c_file, opt, tmp_path) == 31
    _check(compile_to_asm(c_file, opt, tmp_path), 31)


@needs_gcc
@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_main_gets_no_arguments_and_empty_lists_as_the_abi_says(opt, tmp_path):
    # argc = 0, argv = {NULL}, envp = {NULL} (docs/design.md, "The state main starts in")
    c_file = tmp_path / "args.c"
    c_file.write_text("int main(int argc, char **argv, char **envp) {\n"
                      "    return (argc == 0) | (argv[argc] == 0) << 1 | (envp[0] == 0) << 2"
                      " | ((unsigned long)argv % 8 == 0) << 3;\n}\n")
    source = compile_to_asm(c_file, opt, tmp_path)
    for mode in ("off", "on", "nmr3"):
        result = run(source, mode)
        assert result["status"] == "exited" and result["exit_code"] == 15, result
