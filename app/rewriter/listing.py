"""Native and rewritten code side by side, as plain text for the terminal."""

from __future__ import annotations

from app.rewriter import Group

# the letters the page's code panel shows (contracts' ROLE_MARKS; tests/test_contracts.py
# holds them equal)
_MARK = {"native": " ", "mirror": "M", "save": "S", "restore": "R", "entry-mirror": "E"}


def side_by_side(groups: list[Group], offset: int, mode: str) -> str:
    out = [f"mirror {mode}, offset {offset:#x}   (M mirror, E entry-mirror, S save, "
           "R restore)", ""]
    width = max((len(g.native_text) for g in groups), default=20) + 2
    for g in groups:
        for i, m in enumerate(g.members):
            left = f"{g.line:4}  {g.native_text}" if i == 0 else ""
            out.append(f"{left:<{width + 6}}| {m.address:#08x} {_MARK[m.role]} {m.text}")
    return "\n".join(out)
