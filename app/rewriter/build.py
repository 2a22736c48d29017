"""From program text to runnable images: link the guest kernel and the library
functions the program calls, assemble natively, then rewrite for the mirror mode."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from app.abi import DEFAULT_OFFSET, kernel_symbols
from app.asm.budget import LoadBudget
from app.asm.errors import AsmError
from app.asm.layout import Image, assemble
from app.asm.parser import Label, Program, parse
from app.collector import collector_paused
from app.guest import kernel_source, library_for
from app.rewriter import Rewritten, analyse, rewrite

MAX_SOURCE = 512 * 1024


@dataclass
class Build:
    source: str
    program: Program
    native: Image
    rewritten: Rewritten
    _modes: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def image(self) -> Image:
        return self.rewritten.image

    def for_mode(self, mode: str) -> Rewritten:
        """The program rewritten for `mode`: the build's own (its listing) or one of the
        others it was built for (a session's unmirrored twin; every reset and fork
        shares them). Every image is made by `build`, within its budget, before any VM
        exists."""
        if mode == self.rewritten.mode:
            return self.rewritten
        try:
            return self._modes[mode]
        except KeyError:
            raise ValueError(f"this program was not built for mode '{mode}' (built: "
                             f"{', '.join([self.rewritten.mode, *self._modes])})") from None


def link(text: str, budget: LoadBudget | None = None) -> Program:
    if len(text) > MAX_SOURCE:
        raise AsmError(f"program is larger than {MAX_SOURCE // 1024} KiB")
    prog = parse(text, "program", budget=budget)
    if "main" not in prog.labels():
        raise AsmError("the program has no 'main' label (entry point)")
    defined = set(prog.labels()) | set(prog.equates)
    if "_start" in defined:
        raise AsmError("'_start' is the guest kernel's entry; name the program's entry 'main'",
                       prog.labels()["_start"].line)
    needed = set()
    for insn in prog.instructions():
        needed |= insn.symbols()
    for items in prog.sections.values():
        for it in items:
            for e in getattr(it, "exprs", []):
                needed |= e.symbols()
    parse(kernel_source(), "kernel", into=prog, budget=budget)
    lib = library_for(needed - defined, defined)
    if lib:
        parse(lib, "kernel", into=prog, budget=budget)
    return prog


def build(text: str, mode: str = "on", offset: int = DEFAULT_OFFSET,
          entry: str = "liveness", budget: LoadBudget | None = None,
          also: Iterable[str] = ()) -> Build:
    """Assemble `text` with the kernel, rewritten for `mode` (the build's own: its
    listing) and for every mode in `also` (the other VMs it will run in); raise
    AsmError (with a line) on bad input.

    The whole build runs within `budget` (a new LoadBudget() when None: the default
    deadline): out of time or cancelled, it raises LoadStopped naming the line it had
    reached."""
    budget = budget or LoadBudget()
    with collector_paused():
        prog = link(text, budget)
        extra = kernel_symbols()
        native = assemble(prog, extra_symbols=extra, budget=budget)
        analysis = analyse(native, prog, budget)
        others = {m: rewrite(prog, native, m, offset, extra, entry, budget, analysis)
                  for m in dict.fromkeys(also) if m != mode}
        own = rewrite(prog, native, mode, offset, extra, entry, budget, analysis)
    return Build(text, prog, native, own, others)


__all__ = ["Build", "Label", "build", "link"]
