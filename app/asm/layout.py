"""Lay a Program out at fixed section bases and encode it.

Sections sit at fixed bases so that data keeps its address whatever the code
around it grows to (the mirrored program's data lines up with the native one).
Direct branches are encoded by the assembler itself (`branches.py`: short until a
target is out of reach, never shrinking again, so the iteration converges); everything
else goes to Keystone, as the text `ktext.py` makes of it. A pass encodes only what may
still change: the first pass everything, later ones the branches and what names a
symbol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter

from app.asm import verify
from app.asm.branches import direct_branch, encode_branch
from app.asm.budget import LoadBudget, within
from app.asm.encoder import ENCODER, EncodeFailure, address_free
from app.asm.errors import AsmError
from app.asm.ktext import KeystoneTexts
from app.asm.memo import ShapeMemo
from app.asm.parser import Align, Bytes, Data, Fill, Insn, Item, Label, Program
from app.asm.sections import BASES, LIMITS, PERMS
from app.asm.symbols import Symbols

# encoded here because Keystone does not know them (gcc emits them with -fcf-protection
# and older gcc writes `rep ret`); both run as plain instructions
_FIXED = {"endbr64": bytes.fromhex("f30f1efa"), "ret": b"\xc3", "retq": b"\xc3"}
# code padding as the GNU assembler lays it: the processor manuals' multi-byte NOPs, so
# that `.p2align` before a loop runs as one or two instructions, not up to 15
_NOPS = ["", "90", "6690", "0f1f00", "0f1f4000", "0f1f440000", "660f1f440000",
         "0f1f8000000000", "0f1f840000000000", "660f1f840000000000"]
# after the last byte of code: execution that falls off the end (a missing `ret`) stops
# on an invalid opcode instead of running the zeros after it, `add %al, (%rax)`, a store
# nothing mirrors
END_OF_CODE = b"\x0f\x0b"  # ud2
ENCODE_CHUNK = 256  # instructions per round trip to the encoder: the budget is checked
# between round trips, and other loads get the encoder in between
_CHECK_EVERY = 1024  # items between budget checks in the quick loops


def code_padding(n: int) -> bytes:
    out = b""
    while n:
        k = min(n, len(_NOPS) - 1)
        out += bytes.fromhex(_NOPS[k])
        n -= k
    return out


@dataclass
class Section:
    name: str
    base: int
    data: bytearray
    perms: str


@dataclass(slots=True)
class Placed:
    insn: Insn
    address: int
    encoding: bytes

    @property
    def size(self) -> int:
        return len(self.encoding)


@dataclass
class Image:
    sections: dict[str, Section]
    symbols: dict[str, int]
    insns: list[Placed]
    by_address: dict[int, Placed] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_address = {p.address: p for p in self.insns}

    def symbol(self, name: str) -> int:
        return self.symbols[name]


def _fixed_size(it: Item) -> int:
    if isinstance(it, Data):
        return it.size * len(it.exprs)
    if isinstance(it, Bytes):
        return len(it.data)
    if isinstance(it, Fill):
        return it.size
    return 0  # a label


def _origin(section: str) -> str:
    return "kernel" if section.startswith("k") else "program"


def _padding(it: Align, addr: int) -> int:
    pad = -addr % it.boundary
    return pad if it.max_skip is None or pad <= it.max_skip else 0


class _Layout:
    def __init__(self, prog: Program, bases: dict[str, int], extra: dict[str, int],
                 budget: LoadBudget) -> None:
        self.prog = prog
        self.bases = bases
        self.budget = budget
        self.lookup = Symbols(prog.equates, extra, budget)
        self.symbols = self.lookup.labels
        self.sizes: dict[int, int] = {}
        self.long: set[int] = set()
        self.encodings: dict[int, bytes] = {}
        self.texts = KeystoneTexts(self.lookup, self.sizes)
        # the instructions a pass encodes: at first all, then only those whose bytes may
        # still change (branches, and what names a symbol or is RIP-relative); the others
        # keep the bytes the first pass gave them
        self._pending = prog.instructions()
        self._branches = {id(it): direct_branch(it) for it in self._pending}
        # every item's size that does not depend on the layout (data, fills): once
        self._fixed_size = {id(it): _fixed_size(it) for items in prog.sections.values()
                            for it in items if not isinstance(it, Insn | Align)}

    def place(self) -> dict[int, int]:
        """Assign addresses from current sizes; returns id(item) -> address. Only
        addresses are computed: a section too large for its room is refused at the
        line that takes it past, before anything is allocated for it."""
        where: dict[int, int] = {}
        self.lookup.forget_equates()
        sizes, fixed, branches, symbols = self.sizes, self._fixed_size, self._branches, \
            self.symbols
        for sec, items in self.prog.sections.items():
            base = addr = self.bases[sec]
            room = LIMITS[sec] - (len(END_OF_CODE) if "x" in PERMS[sec] else 0)
            for n, it in enumerate(items):
                if n % _CHECK_EVERY == 0:
                    self.budget.check(it.line, _origin(sec))
                key = id(it)
                where[key] = addr
                kind = type(it)
                if kind is Insn:  # before the first pass: a guess
                    addr += sizes.get(key) or (2 if branches[key] else 8)
                elif kind is Label:
                    symbols[it.name] = addr
                elif kind is Align:
                    addr += _padding(it, addr)
                else:
                    addr += fixed[key]
                if addr - base > room:
                    raise AsmError(f"section .{sec} is full: it has room for {room:#x} "
                                   f"bytes ({room >> 10} KiB), and this line takes it to "
                                   f"{addr - base:#x}", it.line, _origin(sec))
        return where

    def check_duplicates(self) -> None:
        seen: dict[str, Label] = {}
        for it in (i for items in self.prog.sections.values() for i in items):
            if isinstance(it, Label):
                if it.name in seen:
                    raise AsmError(f"symbol '{it.name}' is already defined (line "
                                   f"{seen[it.name].line})", it.line, it.origin)
                seen[it.name] = it

    def encode_pass(self, where: dict[int, int]) -> bool:
        """Encode what may still change at the addresses of `where`; whether any size
        changed (then the layout must be placed again)."""
        requests, owners, pending = [], [], []
        encodings, texts = self.encodings, self.texts
        first = not self.sizes
        for n, it in enumerate(self._pending):
            key = id(it)
            if n % _CHECK_EVERY == 0:
                self.budget.check(it.line, it.origin)
            try:
                fixed = _FIXED.get(it.mnemonic)
                if fixed is not None and not it.operands:
                    encodings[key] = bytes(len(it.prefixes) and [0xF3]) + fixed
                    continue
                branch = self._branches[key]
                if branch:
                    encodings[key] = self.branch(it, branch, where[key])
                    pending.append(it)
                    continue
                if first and (known := _SETTLED.get(it.prefixes, it.mnemonic,
                                                    it.operands)) is not None:
                    texts.settle(it, known[0])
                    encodings[key] = known[1]
                    continue
                text = texts.text(it, where[key])
                requests.append((text, where[key]))
                owners.append(it)
            except AsmError as e:
                raise e.placed(e.line or it.line, it.origin) from None
        encoded = self.encode(requests, owners)
        for it, enc in zip(owners, encoded, strict=True):
            if not enc:
                raise AsmError(f"cannot encode '{it.text()}'", it.line, it.origin)
            encodings[id(it)] = enc
            text = texts.constant(it)
            if text is None or not address_free(text):
                pending.append(it)
            else:  # the same bytes wherever it is, in every load
                _SETTLED.put(it.prefixes, it.mnemonic, it.operands, (text, enc))
        changed = False
        for it in self._pending:
            size = len(self.encodings[id(it)])
            if self.sizes.get(id(it)) != size:
                changed = True
                self.sizes[id(it)] = size
        self._pending = pending
        return changed

    def branch(self, it: Insn, branch: tuple[str, str], addr: int) -> bytes:
        """A direct branch's bytes at `addr`, encoded here: short until its target is out
        of reach, then long for good (so that the layout settles)."""
        tree = it.operands[0].expr.tree
        # a label, as most targets are: the lookup's first place, read directly
        target = self.symbols.get(tree[1]) if tree[0] == "sym" else None
        if target is None:
            target = it.operands[0].expr.value(self.lookup)
        try:
            enc = encode_branch(*branch, addr, target, id(it) in self.long)
        except AsmError as e:
            raise AsmError(e.message, it.line, it.origin) from None
        if len(enc) > 2 and branch[0] in ("jmp", "jcc"):
            self.long.add(id(it))
        return enc

    def encode(self, requests: list[tuple[str, int]], owners: list[Insn]) -> list[bytes]:
        encoded: list[bytes] = []
        for start in range(0, len(requests), ENCODE_CHUNK):
            self.budget.check(owners[start].line, owners[start].origin)
            try:
                encoded += ENCODER.encode(requests[start:start + ENCODE_CHUNK], self.budget)
            except EncodeFailure as f:
                it = owners[start + f.index]
                raise AsmError(f.message, it.line, it.origin) from None
        return encoded


# Keystone texts, with the bytes Keystone made of them, of instructions whose bytes are
# alike at any address: the first pass of a layout takes them from here, as it would
# from the encoder's cache
_SETTLED: ShapeMemo[tuple[str, bytes]] = ShapeMemo()


def _data_bytes(it: Data, lookup) -> bytes:
    out = bytearray()
    lo = {1: -0x80, 2: -0x8000, 4: -(1 << 31), 8: -(1 << 63)}[it.size]
    for e in it.exprs:
        v = e.value(lookup)
        if not lo <= v < 1 << (8 * it.size):
            raise AsmError(f"value {v} does not fit in {it.size} byte(s)", it.line)
        out += (v & ((1 << (8 * it.size)) - 1)).to_bytes(it.size, "little")
    return bytes(out)


def assemble(prog: Program, bases: dict[str, int] | None = None,
             extra_symbols: dict[str, int] | None = None,
             budget: LoadBudget | None = None) -> Image:
    """Encode a program; errors name the line (and origin) of the culprit. `budget`
    bounds the time (LoadStopped names the line it stopped at)."""
    lay = _Layout(prog, bases or BASES, extra_symbols or {}, within(budget))
    lay.check_duplicates()
    for _ in range(24):
        # a pass that changed no size was made at the addresses and sizes it gave: its
        # RIP-relative displacements and branches are final (another pass would be the
        # same); one that changed sizes is made again at the new addresses
        if not lay.encode_pass(lay.place()):
            break
    else:
        raise AsmError("code layout does not settle (branch sizes keep changing)")
    sections, placed = {}, []
    for sec, items in prog.sections.items():
        sections[sec] = _materialise(lay, sec, items, placed)
    symbols = dict(lay.symbols)
    for name in prog.equates:
        symbols.setdefault(name, lay.lookup(name))
    for name, value in lay.lookup.extra.items():
        symbols.setdefault(name, value)
    placed.sort(key=attrgetter("address"))
    made_from = lay.texts.made_from
    for n, p in enumerate(placed):
        if n % _CHECK_EVERY == 0:
            lay.budget.check(p.insn.line, p.insn.origin)
        verify.check(p, lay.lookup, made_from(p.insn))
    return Image(sections, symbols, placed)


def _materialise(lay: _Layout, sec: str, items: list[Item], placed: list[Placed]) -> Section:
    """The section's bytes (place() has checked they fit), its instructions into `placed`."""
    data = bytearray()
    base = lay.bases[sec]
    code = "x" in PERMS[sec]
    for n, it in enumerate(items):
        if n % _CHECK_EVERY == 0:
            lay.budget.check(it.line, _origin(sec))
        addr = base + len(data)
        if isinstance(it, Insn):
            enc = lay.encodings[id(it)]
            placed.append(Placed(it, addr, enc))
            data += enc
        elif isinstance(it, Data):
            try:
                data += _data_bytes(it, lay.lookup)
            except AsmError as e:
                raise e.placed(e.line or it.line) from None
        elif isinstance(it, Bytes):
            data += it.data
        elif isinstance(it, Fill):
            data += bytes([it.value]) * it.size if it.value else bytes(it.size)
        elif isinstance(it, Align):
            pad = _padding(it, addr)
            data += code_padding(pad) if it.fill is None and code else bytes([it.fill or 0]) * pad
    if code and data:
        data += END_OF_CODE
    return Section(sec, base, data, PERMS[sec])
