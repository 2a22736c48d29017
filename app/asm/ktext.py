"""An instruction as Keystone reads it: its symbols resolved, a RIP-relative
displacement worked out from where the instruction ends, an absolute address in an
explicit SIB form, and the prefixes Keystone does not know left out.

Most instructions name no symbol: their text is the same in every pass and every load,
and is made once. One whose only varying part is its RIP-relative displacement is made
from the text around that operand, kept. The rest are made again in every pass.
"""

from __future__ import annotations

from app.asm.errors import AsmError
from app.asm.memo import Memo, ShapeMemo
from app.asm.operand import Indirect, Mem, symbols_of
from app.asm.parser import Insn
from app.asm.symbols import Symbols

_IGNORED_PREFIXES = {"notrack"}

# Keystone texts of instructions that name no symbol, by what they are made of: the
# same instruction recurs all over a program, its rewritten copy and its next load
_CONSTANT_TEXTS: Memo[str] = Memo()
# and of those whose RIP-relative displacement alone changes, the text before and after
# that operand
_AROUND: ShapeMemo[tuple[str, Mem, str]] = ShapeMemo()


class KeystoneTexts:
    """The texts of one layout's instructions; `sizes` are the layout's own (id of an
    instruction -> its size in the last pass), read as they change."""

    def __init__(self, lookup: Symbols, sizes: dict[int, int]) -> None:
        self.lookup, self.sizes = lookup, sizes
        self._constant: dict[int, str] = {}  # texts that cannot change (no symbol)
        self._varies: set[int] = set()  # instructions whose text may change
        # of those, the ones whose RIP-relative displacement alone changes: the text
        # before and after that operand
        self._around: dict[int, tuple[str, Mem, str]] = {}
        self._final: dict[int, str] = {}  # the text of the latest encoding

    def text(self, it: Insn, addr: int) -> str:
        """The instruction's text at `addr` in this pass (kept as what the encoding
        that follows is made from)."""
        text = self._final[id(it)] = self._text(it, addr)
        return text

    def settle(self, it: Insn, text: str) -> None:
        """`it` is encoded from `text`, a constant text known from an earlier load."""
        self._constant[id(it)] = self._final[id(it)] = text

    def constant(self, it: Insn) -> str | None:
        """The instruction's text if it is the same in every pass, else None."""
        return self._constant.get(id(it))

    def made_from(self, it: Insn) -> str:
        """What the instruction's final bytes were made from: its text in the last pass,
        or for what is encoded without Keystone (branches, fixed encodings) its
        mnemonic. The same text and bytes check alike wherever they are, so the check
        of a pair is made once."""
        return self._final.get(id(it), it.mnemonic)

    def _text(self, it: Insn, addr: int) -> str:
        key = id(it)
        known = self._constant.get(key)
        if known is not None:
            return known
        around = self._around.get(key)
        if around is None and key in self._varies:  # made again in every pass
            head, parts, _ = self._pieces(it, addr)
            return _joined(head, parts)
        if around is None:  # first seen in this layout
            shape = (it.prefixes, it.mnemonic, it.operands)
            text = _CONSTANT_TEXTS.get(shape)  # only texts that cannot change are kept
            if text is not None:
                self._constant[key] = text
                return text
            around = _AROUND.get(*shape)
            if around is None:
                return self._first_text(it, addr, shape)
            self._around[key] = around
        before, mem, after = around  # only the displacement changes from pass to pass
        return f"{before}{self._rip_operand(it, mem, addr)}{after}"

    def _first_text(self, it: Insn, addr: int, shape: tuple) -> str:
        """An instruction's text made for the first time, kept as what it is: constant,
        the text around its RIP-relative displacement, or neither (made again in every
        pass)."""
        key = id(it)
        head, parts, rip_at = self._pieces(it, addr)
        text = _joined(head, parts)
        if rip_at is None and not any(symbols_of(op) for op in it.operands):
            self._constant[key] = _CONSTANT_TEXTS.put(shape, text)
            return text
        if rip_at is None or any(symbols_of(op) for n, op in enumerate(it.operands)
                                 if n != rip_at):
            self._varies.add(key)
            return text
        star = "*" if isinstance(it.operands[rip_at], Indirect) else ""
        self._around[key] = _AROUND.put(*shape, (f"{head} {', '.join(parts[:rip_at])}"
                                                 f"{', ' if rip_at else ''}{star}",
                                                 _rip_mem(it),
                                                 "".join(f", {q}" for q in parts[rip_at + 1:])))
        return text

    def _rip_operand(self, it: Insn, mem: Mem, addr: int) -> str:
        """A RIP-relative operand with its displacement from the instruction's end
        (0 until its size is known)."""
        disp = mem.disp.value(self.lookup) if mem.disp else 0
        size = self.sizes.get(id(it))
        return mem.render(disp_value=disp - (addr + size) if size else 0)

    def _pieces(self, it: Insn, addr: int) -> tuple[str, list[str], int | None]:
        """The text's mnemonic with its prefixes, its operands' texts, and which operand
        is RIP-relative (None: none)."""
        prefixes = [p for p in it.prefixes if p not in _IGNORED_PREFIXES]
        head = " ".join((*prefixes, it.mnemonic))
        mem = _rip_mem(it)
        parts, rip_at = [], None
        for op in it.operands:
            target = op.inner if isinstance(op, Indirect) else op
            star = "*" if isinstance(op, Indirect) else ""
            if isinstance(target, Mem) and target.base is None and target.index is None:
                # absolute: an explicit SIB form, since Keystone's own RIP-relative
                # rewrite of a bare address is wrong for some loads
                value = target.disp.value(self.lookup) if target.disp else 0
                if not -(1 << 31) <= value < 1 << 31:
                    raise AsmError(f"absolute address {value:#x} does not fit in 32 bits")
                seg = f"%{target.seg}:" if target.seg else ""
                text = f"{seg}{value:#x}(,%riz,1)" if value >= 0 else f"{seg}-{-value:#x}(,%riz,1)"
                parts.append(star + text)
            elif isinstance(target, Mem) and target is mem:
                rip_at = len(parts)
                parts.append(star + self._rip_operand(it, mem, addr))
            else:
                parts.append(op.render(self.lookup) if symbols_of(op) else op.constant_text)
        return head, parts, rip_at


def _rip_mem(insn: Insn) -> Mem | None:
    for op in insn.operands:
        mem = op.inner if isinstance(op, Indirect) else op
        if isinstance(mem, Mem) and mem.rip_relative:
            return mem
    return None


def _joined(head: str, parts: list[str]) -> str:
    return f"{head} {', '.join(parts)}" if parts else head
