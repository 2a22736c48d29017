"""Symbol values during layout: labels, equates and the caller's extra symbols.

An equate is evaluated once per placement and remembered, and chains of equates are
resolved with an explicit stack: `a1 = a0 + a0`, `a2 = a1 + a1`, ... would otherwise
double the work per line, and a chain as long as the program would exhaust Python's
recursion. A cycle (`a = b`, `b = a`) is an error naming the line that closes it.
"""

from __future__ import annotations

from app.asm.budget import LoadBudget
from app.asm.errors import AsmError
from app.asm.parser import Equate


class Symbols:
    def __init__(self, equates: dict[str, Equate], extra: dict[str, int],
                 budget: LoadBudget) -> None:
        self.labels: dict[str, int] = {}
        self.equates = equates
        self.extra = extra
        self.budget = budget
        self._values: dict[str, int] = {}  # equates, for the current placement

    def forget_equates(self) -> None:
        """Labels moved: equates that depend on them must be evaluated again."""
        self._values.clear()

    def __call__(self, name: str) -> int:
        if name in self.labels:
            return self.labels[name]
        if name in self.equates:
            if name not in self._values:
                self._resolve(name)
            return self._values[name]
        if name in self.extra:
            return self.extra[name]
        raise KeyError(name)

    def _pending(self, name: str) -> list[str]:
        """The equates `name` refers to that are not evaluated yet."""
        return [s for s in self.equates[name].expr.symbols()
                if s in self.equates and s not in self.labels and s not in self._values]

    def _resolve(self, name: str) -> None:
        path = [name]                      # equates being resolved, each waiting on the next
        todo = [self._pending(name)]
        on_path = {name}
        while path:
            if todo[-1]:
                dep = todo[-1].pop()
                if dep in self._values:
                    continue
                if dep in on_path:
                    eq = self.equates[path[-1]]
                    raise AsmError(f"'{dep}' is defined in terms of itself (through "
                                   f"'{path[-1]}')", eq.line)
                path.append(dep)
                on_path.add(dep)
                todo.append(self._pending(dep))
                continue
            done = path.pop()
            todo.pop()
            on_path.discard(done)
            eq = self.equates[done]
            self.budget.check(eq.line)
            try:
                self._values[done] = eq.expr.value(self)
            except AsmError as e:
                raise e.placed(e.line or eq.line) from None
