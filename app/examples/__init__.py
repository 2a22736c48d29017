"""Example programs shipped with the tool (the default one is loaded first)."""

from __future__ import annotations

from importlib import resources


def names() -> list[str]:
    return sorted(p.name[:-2] for p in resources.files(__package__).iterdir()
                  if p.name.endswith(".s"))


def source(name: str) -> str:
    if name not in names():
        raise KeyError(name)
    return resources.files(__package__).joinpath(f"{name}.s").read_text()


DEFAULT = "sum_array"
