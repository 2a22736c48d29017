"""Sessions: events follow the schema, back is exact, the same inputs give the same events."""

from __future__ import annotations

import hashlib
import json

import pytest

from app.abi import DEFAULT_OFFSET
from app.examples import source
from app.session import Session, SessionError, validate_event

PROGRAM = source("sum_array")


def _machine_state(s: Session) -> tuple:
    return (hashlib.sha256(bytes(s.hv.mem.view)).hexdigest(),
            tuple(sorted(vm.cpu.state().items()) for vm in s.vms),
            tuple(vm.status for vm in s.vms), tuple(str(vm.counters) for vm in s.vms),
            tuple(o.kind for o in s.hv.mem.owners).__hash__())


def test_every_event_validates():
    s = Session(PROGRAM, "nmr3", compare=True)
    events = []
    for _ in range(60):
        events += s.step()
    events += s.step("rewritten")
    events += s.inject("ue", "table+8")
    events += s.run()
    events += s.back()
    events += s.reset()
    for e in events:
        validate_event(e)
    kinds = {e["kind"] for e in events}
    assert {"step", "inject", "back", "reset"} <= kinds


def test_step_shows_the_group_and_its_writes():
    s = Session(PROGRAM, "on")
    while True:
        e = s.step()[0]
        if e["native"]["class"] == "repeat" and e["native"]["origin"] == "program":
            break
    roles = [r["role"] for r in e["rewritten"]]
    assert roles == ["native", "mirror"]
    assert all(r["executed"] for r in e["rewritten"])
    native, mirror = e["writes"]
    assert (native["copy"], mirror["copy"]) == (0, 1)
    assert mirror["va"] - native["va"] == s.offset
    assert native["new"] == mirror["new"]
    assert "rip" in e["regs"]


@pytest.mark.parametrize("mode", ["off", "on", "nmr3"])
def test_back_restores_everything_exactly(mode):
    s = Session(PROGRAM, mode, compare=mode != "off")
    states = [_machine_state(s)]
    for i in range(80):
        if i == 40:
            s.inject("ue", "table+8")
        elif i == 60:
            s.run(max_native=30)
        else:
            s.step("rewritten" if i % 3 else "native")
        if s.history.position == len(states):   # a VM that stopped records nothing
            states.append(_machine_state(s))
    assert len(states) > 40
    for expected in reversed(states[:-1]):
        s.undo_newest()  # each entry, whole (back goes into the run: the test below)
        assert _machine_state(s) == expected


def test_back_then_forward_gives_the_same_events():
    s = Session(PROGRAM, "on")
    first = [s.step() for _ in range(30)]
    for _ in range(30):
        s.back()
    again = [s.step() for _ in range(30)]
    strip = [[{k: v for k, v in e.items() if k != "seq"} for e in evs] for evs in first]
    assert strip == [[{k: v for k, v in e.items() if k != "seq"} for e in evs] for evs in again]


def test_same_inputs_same_events():
    def script():
        s = Session(PROGRAM, "nmr3", compare=True)
        out = [s.step() for _ in range(25)]
        out.append(s.inject("silent", "random"))
        out.append(s.run())
        return json.dumps(out, sort_keys=True)
    assert script() == script()


def test_run_stops_at_a_breakpoint_and_resumes():
    s = Session(PROGRAM, "on")
    main = s.build.native.symbols["main"]
    fill = s.build.native.symbols["fill"]
    ev = s.run(breakpoints={fill})[0]
    assert ev["stopped"] == "break"
    assert ev["native"]["address"] == fill
    ev = s.run(breakpoints={fill})[0]       # resumes past it: fill is called once
    assert ev["stopped"] == "exited"
    assert s.vms[0].exit_code == 1240
    assert main != fill


def test_budget_gives_limit_and_step_mode_agrees_with_run_mode():
    a, b = Session(PROGRAM, "on"), Session(PROGRAM, "on")
    assert a.run(max_native=77)[0]["stopped"] == "limit"
    for _ in range(77):
        b.step()
    assert _machine_state(a)[:4] == _machine_state(b)[:4]


def test_errors_are_session_errors():
    with pytest.raises(SessionError) as err:
        Session("main:\n  movl $1, %eax\n  bogus\n")
    assert err.value.line == 3
    s = Session(PROGRAM)
    with pytest.raises(SessionError):
        s.back()
    with pytest.raises(SessionError):
        s.inject("ue", "nowhere")
    with pytest.raises(SessionError):
        s.inject("meteor", "table")


def test_offset_that_overlaps_the_program_is_an_address_conflict():
    with pytest.raises(SessionError, match="address conflict"):
        Session(PROGRAM, "on", offset=0x800000)
    with pytest.raises(SessionError, match="address conflict"):
        Session(PROGRAM, "nmr3", offset=0x400000)


def _refusals(src: str) -> list[dict]:
    s = Session(src, "on")
    s.run()
    return [n for n in s.hv.log if n["kind"] == "refused"], s.result()


@pytest.mark.parametrize("va,pte,reason", [
    (f"{DEFAULT_OFFSET:#x}", "0x7", "address conflict"),     # the mirror range
    ("0x3000000", "0x0000000000001003", "not this VM's"),   # a hypervisor frame
    ("0x3000000", "0x0000000000002003", "page table"),      # PML4 (frame 16+): writable
    ("0x3001000", "0xfe000003", "not machine memory"),      # outside RAM
])
def test_mmu_update_is_validated(va, pte, reason):
    # frame 0x10 is the first page table the hypervisor allocates (its PML4)
    pte = pte.replace("0000000000002003", "0000000000010003")
    src = f"""
    main:
        leaq req(%rip), %rdi
        movl $1, %esi
        movl $1, %eax
        int $0x82
        ret
        .section .rodata
        .p2align 3
    req: .quad {va}, {pte}
    """
    refused, result = _refusals(src)
    assert refused and reason in refused[0]["reason"]
    assert result["exit_code"] == -1   # EPERM comes back in %rax
    assert result["mirror_consistent"] is True


@pytest.mark.parametrize("page, change, reason", [
    ("buf", "btrq $63, %rax", "holds data: mapped executable"),   # NX cleared
    ("main", "orq $2, %rax", "never mapped writable"),            # RW set on code
])
def test_mmu_update_keeps_code_and_data_apart(page, change, reason):
    # the guest asks to remap one of its own pages in place, from its own PTE
    src = f"""
    main:
        movq ${page}, %rdi
        andq $-4096, %rdi
        movq %rdi, req(%rip)
        movl $4, %eax              # pte_read
        int $0x82
        {change}
        movq %rax, req+8(%rip)
        leaq req(%rip), %rdi
        movl $1, %esi
        movl $1, %eax              # mmu_update
        int $0x82
        ret
        .data
        .p2align 12
    buf: .quad 0
    req: .quad 0, 0
    """
    refused, result = _refusals(src)
    assert len(refused) == 1 and reason in refused[0]["reason"]
    assert result["exit_code"] == -1


def test_guest_view_hides_mirror_ptes():
    mirror = 0x900000 + DEFAULT_OFFSET  # the mirror of .data
    src = f"""
    main:
        pushq %rbx
        movq $0x900000, %rdi       # .data, mapped by the kernel at boot
        movl $4, %eax              # pte_read
        int $0x82
        xorl %ebx, %ebx
        testq %rax, %rax
        setnz %bl                  # 1: the guest sees its own PTE
        movq ${mirror:#x}, %rdi      # the mirror of .data
        movl $4, %eax
        int $0x82
        testq %rax, %rax
        sete %al                   # 2: the mirror PTE reads as 0
        movzbl %al, %eax
        addl %eax, %eax
        addl %ebx, %eax
        popq %rbx
        ret
        .data
    x: .long 1
    """
    s = Session(src, "on")
    s.run()
    assert s.result()["exit_code"] == 3
    assert s.vms[0].read_pte(mirror) != 0   # but the hypervisor did write it


def test_run_stops_after_the_group_that_writes_a_watched_word():
    s = Session(PROGRAM, "on")
    s.run(max_native=12)           # the kernel has mapped the program by now
    total = s.build.image.symbols["total"]
    ev = s.run(watchpoints=[(total, 4)])[0]
    validate_event(ev)
    assert ev["stopped"] == "watch"
    vm = s.vms[0]
    assert vm.status == "running"
    group = s.current_group(vm)
    assert group.native_text.startswith("addl    $1, runs")   # right after `movl ..., total`
    page = vm.pages[total & ~0xFFF]
    native = vm.mem.read(page.frame * 0x1000 + (total & 0xFFF), 4)
    mirror = vm.mem.read(page.mirrors[0] * 0x1000 + (total & 0xFFF), 4)
    assert int.from_bytes(native, "little") == 1240 and native == mirror
    assert s.run()[0]["stopped"] == "exited"


def test_watching_an_unmapped_address_is_an_error():
    s = Session(PROGRAM, "on")
    with pytest.raises(SessionError, match="not in the program's memory"):
        s.run(watchpoints=[(0x5000000, 8)])


def test_page_table_tree_shows_native_and_mirror_entries():
    s = Session(PROGRAM, "nmr3")
    s.run(max_native=12)
    vm = s.vms[0]
    leaves = [e for e in vm.table_entries() if e["level"] == "PT"]
    table = s.build.image.symbols["table"] & ~0xFFF
    natives = {e["va"] for e in leaves if not e["mirror"]}
    mirrors = {e["va"] for e in leaves if e["mirror"]}
    assert table in natives
    assert {table + s.offset, table + 2 * s.offset} <= mirrors
    assert len(mirrors) == 2 * len([p for p in vm.pages.values() if p.kind != "save"])


def test_forward_replays_what_back_undid():
    s = Session(PROGRAM, "on", compare=True)
    for _ in range(20):
        s.step()
    s.inject("ue", "random")
    s.run(max_native=30)
    after = _machine_state(s)
    for _ in range(3):
        s.back()
    assert len(s.history.undone) == 3
    for _ in range(3):
        s.forward()
    assert _machine_state(s) == after
    with pytest.raises(SessionError):
        s.forward()
    s.back()
    events = s.inject("ce", "random")   # something new starts a branch
    assert events[-1]["kind"] == "branch" and events[-1]["dropped"] == 1
    assert not s.history.undone


def test_a_run_in_turns_is_one_history_entry_and_ends_like_a_free_run():
    whole = Session(PROGRAM, "on", compare=True)
    whole.run()
    turns = Session(PROGRAM, "on", compare=True)
    seen = []
    events = turns.run(chunk=7, progress=lambda evs: seen.append(len(evs)))
    assert len(seen) > 5 and turns.history.position == 1
    assert [e["stopped"] for e in events[-2:]] == ["exited", "exited"]
    assert all(e["stopped"] == "running" for e in events[:-2])
    assert _machine_state(turns) == _machine_state(whole)
    turns.undo_newest()
    assert _machine_state(turns) == _machine_state(Session(PROGRAM, "on", compare=True))


def test_a_paused_run_in_turns_stops_where_progress_says():
    s = Session(PROGRAM, "on")
    calls = []
    events = s.run(chunk=10, progress=lambda evs: calls.append(1) or False)
    assert len(calls) == 1 and events[-1]["stopped"] == "running"
    # one turn: at most its chunk (a turn of a longer run may end a little early, at the
    # end of the engine's block before the chunk's end), and the history says as much
    ran = s.vms[0].counters.native_instructions
    assert 0 < ran <= 10
    assert s.history_view()["native"] == ran and s.history.done[-1].native == ran


def test_a_turn_that_ends_on_a_breakpoint_stops_there():
    s = Session(PROGRAM, "on")
    loop = next(g.native_address for g in s.vms[0].groups
                if g.origin == "program" and g.native_text.startswith("addl") and "table" in
                g.native_text)
    events = s.run(breakpoints={loop}, chunk=1, progress=lambda evs: True)
    assert events[-1]["stopped"] == "break"
    assert s.current_group(s.vms[0]).native_address == loop


def test_a_recipe_rebuilds_the_session_exactly():
    from app.session import from_recipe, recipe
    s = Session(PROGRAM, "nmr3", compare=True)
    for _ in range(40):
        s.step()
    s.inject("silent", "random")
    s.run(max_native=25, breakpoints={s.vms[0].groups[5].native_address})
    s.step("rewritten")
    s.back()
    r = json.loads(json.dumps(recipe(s)))   # it survives JSON (SQLite keeps it as text)
    copy = from_recipe(r)
    assert _machine_state(copy) == _machine_state(s)
    assert copy.history.position == s.history.position and len(copy.history.undone) == 1
    copy.forward()
    s.forward()
    assert _machine_state(copy) == _machine_state(s)


def test_a_watchpoint_on_a_page_mapped_later_still_stops_a_run():
    for chunk in (None, 1000):
        s = Session(PROGRAM, "on", compare=True)    # at boot no data page is mapped yet
        va = s.address_of("total")
        events = s.run(watchpoints=[(va, 4)], chunk=chunk,
                       progress=(lambda evs: True) if chunk else None)
        assert events[-1]["stopped"] == "watch" and events[-2]["stopped"] == "watch"
        group = s.current_group(s.vms[0])
        assert group.native_text.startswith("addl")      # just after `movl %eax, total`
        with pytest.raises(SessionError):
            s.address_of("0x900000*0x900000*0x900000*0x900000")
        with pytest.raises(SessionError):
            s.address_of("-8")


def test_every_image_is_built_with_the_program_before_any_vm_exists(monkeypatch):
    """The twin's rewriting is done by the load (within its budget), never later by a
    VM being created: a reset or a fork only boots what was built."""
    import app.rewriter.build as toolchain

    s = Session(source("sum_array"), "on", compare=True)

    def no_more(*_args, **_kw):
        raise AssertionError("rewritten after the load")
    monkeypatch.setattr(toolchain, "rewrite", no_more)
    s.reset()
    copy = Session.restore(s.save())
    assert [vm.mode for vm in copy.vms] == ["on", "off"]
    with pytest.raises(ValueError, match="not built for mode 'nmr3'"):
        s.build.for_mode("nmr3")


def test_an_unmirrored_session_has_no_twin_in_any_of_its_accounts():
    from app.session import recipe, snapshot
    s = Session(source("sum_array"), "off", compare=True)
    assert not s.comparing()
    assert snapshot(s)["settings"]["compare"] is False
    assert recipe(s)["compare"] is False and s.settings().compare is False


@pytest.mark.parametrize("mode", ["on", "nmr3", "off"])
def test_back_from_a_run_goes_one_instruction_back_and_forward_replays_its_end(mode):
    """A stepper's ←: after a run, one native instruction back (the state single steps
    reach there), further ← each undo one entry, and → replays the run's end exactly."""
    def at_the_store() -> Session:
        s = Session(PROGRAM, mode, compare=mode != "off")
        for _ in range(20):
            s.step()
        if mode != "off":
            s.inject("ue", "table+8")          # the run recovers from it on the way
        return s
    s = at_the_store()
    s.run(watchpoints=[(s.address_of("total"), 4)])
    end, native = _machine_state(s), s.native_count()
    assert native > 60
    stepped = at_the_store()
    while stepped.native_count() < native - 1:
        stepped.step()
    events = s.back()
    assert s.native_count() == native - 1 and _machine_state(s) == _machine_state(stepped)
    # what it tells is a step back; the run made again on the way is not news
    assert {e["kind"] for e in events} == {"back"}, {e["kind"] for e in events}
    length = s.history_view()["length"]
    s.back()                                   # an entry undone: nothing runs again
    stepped.back()
    assert s.native_count() == native - 2 and s.history_view()["length"] == length
    assert _machine_state(s) == _machine_state(stepped)
    s.forward()
    events = s.forward()
    assert s.native_count() == native and _machine_state(s) == end
    assert any(n["kind"] == "watch" for e in events for n in e.get("notes", ()))
