"""Reads a lesson file: a YAML header between `---` lines, an introduction, then one
`## ` section per step. A section's narrative is Markdown; its script is one fenced
block tagged `lesson` (YAML: focus, do, check, quiz). Every error names the file and
line, the header's and blocks' keys included.
"""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import yaml

from app.abi import DEFAULT_OFFSET, parse_offset
from app.contracts import Mode
from app.lessons import grammar
from app.lessons.model import Lesson, LessonError, Quiz, Step, Where
from app.lessons.render import to_html
from app.session import example_names, example_source

PANELS = ["code", "registers", "pagetables", "memory", "host", "console", "inject"]
HEADER = {
    "type": "object", "additionalProperties": False, "required": ["title", "goals"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "goals": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "program": {"type": "string", "minLength": 1},
        "example": {"enum": example_names()},
        "mirror": {"enum": [str(m) for m in Mode]},
        "offset": {"type": ["integer", "string"]},
        "compare": {"type": "boolean"},
        "mirror_devices": {"type": "boolean"},
    },
}
BLOCK = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "focus": {"enum": PANELS},
        "do": {"type": "array", "items": {"type": ["string"]}},
        "check": {"type": "array", "items": {"type": "string"}},
        "quiz": {"type": "object", "additionalProperties": False,
                 "required": ["question", "choices", "answer"],
                 "properties": {"question": {"type": "string"},
                                "choices": {"type": "array", "items": {"type": "string"},
                                            "minItems": 2, "maxItems": 6},
                                "answer": {"type": "integer", "minimum": 0},
                                "explain": {"type": "string"}}},
    },
}
_FENCE = re.compile(r"^(```+|~~~+)\s*(\S*)")


def load(path: str | Path) -> Lesson:
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LessonError(Where(name, 1), f"cannot read the lesson: {e}") from None
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise LessonError(Where(name, 1), "a lesson starts with a YAML header between '---' lines")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise LessonError(Where(name, 1), "the YAML header has no closing '---'") from None
    header, node = _yaml("\n".join(lines[1:end]), Where(name, 2), HEADER)
    source, program_name = _program(header, node, path, name)
    sections = _sections(lines, end + 1)
    intro = "\n".join(lines[end + 1:sections[0][0]] if sections else lines[end + 1:])
    lesson = Lesson(path=name, slug=path.stem, title=header["title"], goals=header["goals"],
                    intro_html=to_html(intro), source=source, program_name=program_name,
                    mirror=header.get("mirror", "on"), offset=_offset(header, node, name),
                    compare=header.get("compare", True),
                    mirror_devices=header.get("mirror_devices", False))
    for start, stop in sections:
        lesson.steps.append(_step(lines, start, stop, name))
    if not lesson.steps:
        raise LessonError(Where(name, end + 2), "a lesson needs at least one '## ' step")
    return lesson


def _yaml(text: str, where: Where, schema: dict) -> tuple[dict, yaml.Node]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        # the start of the broken construct (a bracket left open…) is where the author
        # made the mistake; the problem mark is where the parser gave up
        mark = getattr(e, "problem_mark", None)
        if "flow" in (getattr(e, "context", None) or "") and getattr(e, "context_mark", None):
            mark = e.context_mark
        line = where.line + (mark.line if mark else 0)
        problem = getattr(e, "problem", None) or str(e)
        raise LessonError(Where(where.path, line), f"YAML: {problem}") from None
    data = {} if data is None else data
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema)
                                             .iter_errors(data))
    if error is not None:
        path = list(error.absolute_path)
        at = _node_at(node, path) if path else node
        if error.validator == "additionalProperties" and isinstance(at, yaml.MappingNode):
            extra = [k for k, _v in at.value if k.value not in error.schema["properties"]]
            at = extra[0] if extra else at
        line = where.line + (at.start_mark.line if at is not None else 0)
        key = "/".join(str(p) for p in path)
        message = error.message
        if error.validator == "additionalProperties":
            message = f"unknown key: {message}"
        elif error.validator == "type" and isinstance(error.instance, dict):
            message = ("this item reads as a YAML mapping because it contains ': '; "
                       "put the whole item in single quotes")
        elif error.validator in ("minItems", "maxItems") and isinstance(error.instance, list):
            low, high = error.schema.get("minItems", 0), error.schema.get("maxItems")
            message = (f"{len(error.instance)} items here; it takes {low} or more"
                       if high is None else
                       f"{len(error.instance)} items here; it takes {low} to {high}")
        raise LessonError(Where(where.path, line), f"{key + ': ' if key else ''}{message}")
    return data, node


def _node_at(node, path: list):
    for key in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            node = node.value[key] if key < len(node.value) else None
        if node is None:
            return None
    return node


def _line_of(node, path: list, base: int) -> int:
    at = _node_at(node, path)
    return base + (at.start_mark.line if at is not None else 0)


def _program(header: dict, node, path: Path, name: str) -> tuple[str, str]:
    if "program" in header and "example" in header:
        raise LessonError(Where(name, _line_of(node, ["example"], 2)),
                          "give either 'program' or 'example', not both")
    if "example" in header:
        return example_source(header["example"]), header["example"]
    program = header.get("program")
    if program is None:
        raise LessonError(Where(name, 2), "the header needs 'program' (inline or a file "
                          "beside the lesson) or 'example'")
    if "\n" in program:
        return program, "inline"
    file = path.parent / program
    try:
        return file.read_text(encoding="utf-8"), program
    except OSError:
        raise LessonError(Where(name, _line_of(node, ["program"], 2)),
                          f"program file '{program}' not found beside the lesson") from None


def _offset(header: dict, node, name: str) -> int:
    try:
        return parse_offset(header.get("offset", DEFAULT_OFFSET))
    except ValueError as e:
        raise LessonError(Where(name, _line_of(node, ["offset"], 2)), str(e)) from None


def _sections(lines: list[str], first: int) -> list[tuple[int, int]]:
    starts, fence = [], None
    for i in range(first, len(lines)):
        m = _FENCE.match(lines[i])
        if m:
            fence = None if fence and lines[i].startswith(fence) else fence or m.group(1)
            continue
        if fence is None and lines[i].startswith("## "):
            starts.append(i)
    return list(zip(starts, [*starts[1:], len(lines)], strict=True))


def _step(lines: list[str], start: int, stop: int, name: str) -> Step:
    title = lines[start][3:].strip()
    narrative, block, block_line, i = [], None, 0, start + 1
    while i < stop:
        m = _FENCE.match(lines[i])
        if m and m.group(2) == "lesson":
            if block is not None:
                raise LessonError(Where(name, i + 1), "one 'lesson' block per step")
            j = i + 1
            while j < stop and not lines[j].startswith(m.group(1)):
                j += 1
            if j == stop:
                raise LessonError(Where(name, i + 1), "the 'lesson' block is not closed")
            block, block_line, i = "\n".join(lines[i + 1:j]), i + 2, j + 1
            continue
        narrative.append(lines[i])
        i += 1
    data, node = _yaml(block or "", Where(name, block_line or start + 1), BLOCK)
    base = block_line
    actions = [grammar.action(a, Where(name, _line_of(node, ["do", k], base)))
               for k, a in enumerate(data.get("do", []))]
    checks = [grammar.check(c, Where(name, _line_of(node, ["check", k], base)))
              for k, c in enumerate(data.get("check", []))]
    quiz = None
    if "quiz" in data:
        q = data["quiz"]
        where = Where(name, _line_of(node, ["quiz"], base))
        if q["answer"] >= len(q["choices"]):
            where = Where(name, _line_of(node, ["quiz", "answer"], base))
            raise LessonError(where, f"quiz answer {q['answer']} is not one of the "
                              f"{len(q['choices'])} choices (counted from 0)")
        quiz = Quiz(q["question"], q["choices"], q["answer"], q.get("explain", ""), where)
    text = "\n".join(narrative).strip()
    return Step(title, text, to_html(text), data.get("focus"), actions, checks, quiz,
                Where(name, start + 1))
