"""Exercise markers: finding them in the sources and turning them into stubs.

A teacher marks the part of a function a student should write (the code in between stays
the working solution):

    // BEGIN EXERCISE 01.3 the DDIM step (#6-ddim)
    ...solution...
    // END EXERCISE

"01" is the lesson, "3" the exercise's number in it, "the DDIM step" its title and the
optional "(#6-ddim)" a heading anchor in the lesson's README (lessons/01_*/README.md).
A student handout replaces the lines in between by a stub that throws
tinydiff::NotImplemented("01.3: the DDIM step — see lessons/01_contextunet/README.md#6-ddim").
See lessons/README.md for the rules.
"""
import os
import re
from dataclasses import dataclass
from typing import List, Optional

SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".cu", ".cuh")
# Folders that hold no sources a handout needs: build output, data, runs, version control.
SKIPPED_DIRS = re.compile(r"^(build|build-.*|data|runs|\..*|__pycache__)$")

BEGIN = re.compile(r"^(?P<indent>\s*)//\s*BEGIN EXERCISE\s+(?P<id>(?P<lesson>\d\d)\.(?P<n>\d+))"
                   r"(?:\s+(?P<title>.*?))?(?:\s+\(#(?P<anchor>[\w-]+)\))?\s*$")
END = re.compile(r"^\s*//\s*END EXERCISE\s*$")
ANY_MARKER = re.compile(r"^\s*//\s*(BEGIN|END)\s+EXERCISE\b")
ERROR_INCLUDE = '#include "tensor/error.hpp"'


class MarkerError(Exception):
    """A malformed, unbalanced or duplicate marker; the message names file and line."""


@dataclass
class Exercise:
    id: str            # "01.3"
    lesson: str        # "01"
    number: int        # 3
    title: str         # "the DDIM step"
    anchor: str        # "6-ddim", or "" for the top of the README
    path: str          # the file, relative to the tree's root
    begin: int         # 0-based line index of the BEGIN marker
    end: int           # 0-based line index of the END marker
    indent: str        # the BEGIN marker's indentation


def source_files(root: str) -> List[str]:
    """Every C++ source under root (relative paths, sorted), skipping build and data folders."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not SKIPPED_DIRS.match(d))
        for name in files:
            if name.endswith(SOURCE_SUFFIXES):
                found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


def parse_file(path: str, lines: List[str]) -> List[Exercise]:
    """The exercises of one file, given its lines; MarkerError when markers are malformed."""
    exercises, open_one = [], None
    for i, line in enumerate(lines):
        if not ANY_MARKER.match(line):
            continue
        where = f"{path}:{i + 1}"
        begin = BEGIN.match(line)
        if begin:
            if open_one:
                raise MarkerError(f"{where}: BEGIN EXERCISE {begin['id']} inside exercise "
                                  f"{open_one.id} (opened at line {open_one.begin + 1})")
            if not begin["title"]:
                raise MarkerError(f"{where}: exercise {begin['id']} has no title "
                                  "(// BEGIN EXERCISE NN.n <title> [(#anchor)])")
            open_one = Exercise(begin["id"], begin["lesson"], int(begin["n"]), begin["title"],
                                begin["anchor"] or "", path, i, -1, begin["indent"])
        elif END.match(line):
            if not open_one:
                raise MarkerError(f"{where}: END EXERCISE without a BEGIN EXERCISE")
            open_one.end = i
            exercises.append(open_one)
            open_one = None
        else:
            raise MarkerError(f"{where}: malformed marker {line.strip()!r} (expected "
                              "'// BEGIN EXERCISE NN.n <title> [(#anchor)]' or '// END EXERCISE')")
    if open_one:
        raise MarkerError(f"{path}:{open_one.begin + 1}: exercise {open_one.id} has no END EXERCISE")
    return exercises


def read_lines(root: str, path: str) -> List[str]:
    with open(os.path.join(root, path), encoding="utf-8", newline="") as f:
        return f.read().splitlines(keepends=True)


def find_exercises(root: str, paths: Optional[List[str]] = None) -> List[Exercise]:
    """All exercises under root (or in `paths`), sorted by id; MarkerError on duplicate ids."""
    exercises = []
    for path in paths if paths is not None else source_files(root):
        if path.endswith(SOURCE_SUFFIXES) and os.path.isfile(os.path.join(root, path)):
            exercises += parse_file(path, read_lines(root, path))
    seen = {}
    for e in exercises:
        if e.id in seen:
            raise MarkerError(f"exercise {e.id} is marked twice: {seen[e.id].path}:"
                              f"{seen[e.id].begin + 1} and {e.path}:{e.begin + 1}")
        seen[e.id] = e
    return sorted(exercises, key=lambda e: (e.lesson, e.number))


def lesson_readme(root: str, lesson: str) -> str:
    """lessons/NN_name/README.md for lesson NN (the path even when the file is missing)."""
    lessons_dir = os.path.join(root, "lessons")
    names = sorted(os.listdir(lessons_dir)) if os.path.isdir(lessons_dir) else []
    for name in names:
        if name.startswith(lesson + "_") and os.path.isdir(os.path.join(lessons_dir, name)):
            return f"lessons/{name}/README.md"
    return "lessons/README.md"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, - for spaces."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def readme_anchors(root: str, readme: str) -> List[str]:
    path = os.path.join(root, readme)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [github_anchor(line.lstrip("#")) for line in f if re.match(r"^#{1,6}\s", line)]


def stub_message(e: Exercise, readme: str) -> str:
    link = readme + (f"#{e.anchor}" if e.anchor else "")
    return f"{e.id}: {e.title} \u2014 see {link}"


def cpp_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# A line that opens a lambda body with a deduced return type: `[...](...) {` with no `->`.
LAMBDA_OPENER = re.compile(r"\]\s*(\([^()]*\))?\s*(mutable\s*)?\{\s*$")
RETURNED_TYPE = re.compile(r"^\s*return\s+([A-Za-z_][\w:]*(?:<[\w:, <>]*>)?)\s*[{(]")


def enclosing_opener(lines: List[str], begin: int) -> str:
    """The line holding the `{` that opens the scope the BEGIN marker sits in."""
    depth = 0
    for i in range(begin - 1, -1, -1):
        code = re.sub(r'"(\\.|[^"\\])*"|//.*$', "", lines[i])
        depth += code.count("}") - code.count("{")
        if depth < 0:
            return lines[i]
    return ""


def stub_lines(e: Exercise, lines: List[str], readme: str) -> List[str]:
    """The lines that replace the solution: a throw (and, inside a lambda that returns a value,
    an unreachable return that names the lambda's return type, which C++ must deduce)."""
    newline = "\r\n" if lines[e.begin].endswith("\r\n") else "\n"
    stub = [f"{e.indent}throw tinydiff::NotImplemented({cpp_string(stub_message(e, readme))});"]
    if LAMBDA_OPENER.search(enclosing_opener(lines, e.begin).rstrip()):
        solution = lines[e.begin + 1:e.end]
        returns = [m[1] for m in map(RETURNED_TYPE.match, solution) if m]
        if any(re.match(r"^\s*return\s+\S", l) for l in solution) and not returns:
            raise MarkerError(f"{e.path}:{e.begin + 1}: exercise {e.id} sits in a lambda that "
                              "returns a value, so its stub must name the type: write the "
                              "solution's return as `return Type{...}` or `return Type(...)`")
        if returns:
            stub.append(f"{e.indent}return {returns[0]}{{}};  // never reached; it gives the "
                        "lambda its return type")
    return [s + newline for s in stub]


def with_error_include(lines: List[str], first_marker: int) -> List[str]:
    """lines with #include "tensor/error.hpp" after the last #include above the first marker
    (for tinydiff::NotImplemented), unless the file includes it already."""
    if any(l.strip() == ERROR_INCLUDE for l in lines):
        return lines
    includes = [i for i in range(first_marker) if lines[i].startswith("#include")]
    at = includes[-1] + 1 if includes else 0
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    return lines[:at] + [ERROR_INCLUDE + newline] + lines[at:]


def stub_file(root: str, path: str, lesson: str) -> Optional[str]:
    """The text of `path` with lesson's exercises replaced by stubs, or None when it has none.
    The markers stay, so a student sees where to write and a teacher can grade by id."""
    lines = read_lines(root, path)
    mine = [e for e in parse_file(path, lines) if e.lesson == lesson]
    if not mine:
        return None
    readme = lesson_readme(root, lesson)
    out, at = [], 0
    for e in mine:
        out += lines[at:e.begin + 1] + stub_lines(e, lines, readme)
        at = e.end
    out += lines[at:]
    return "".join(with_error_include(out, mine[0].begin))
