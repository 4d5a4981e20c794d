#!/usr/bin/env python3
"""Checks the exercise markers of the tree (lessons/README.md, "Adding an exercise"):

  - every BEGIN EXERCISE has an END EXERCISE, with no nesting, and every marker is well formed;
  - each exercise has an id NN.n and a title; ids are unique and numbered 1, 2, ... per lesson;
  - an anchor (#name) names a heading of the lesson's README;
  - each exercise has at least one test case in TEST_SUITE("lessonNN") whose name starts with
    "NN.n " (in tests/test_exercises_lessonNN.cpp), and every such test names an exercise.

Prints one line per problem and exits 1 when there is any; prints a summary and exits 0
otherwise. Needs no build: it reads the sources.

    python3 lessons/classroom/lint_markers.py [--src DIR]
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import markers  # noqa: E402

SUITE = re.compile(r'TEST_SUITE\("(?P<suite>[^"]*)"\)')
# TEST_CASE("01.3 ...") or the tests/exercises.hpp form EXERCISE_CASE("01.3", "...")
CASE = re.compile(r'(?:TEST_CASE\("(?P<plain>\d\d\.\d+) |EXERCISE_CASE\("(?P<macro>[^"]*)",)')


def exercise_tests(root: str) -> list:
    """(suite, id, where) for each exercise-style test case in tests/*.cpp."""
    found = []
    tests_dir = os.path.join(root, "tests")
    for name in sorted(os.listdir(tests_dir)) if os.path.isdir(tests_dir) else []:
        if not name.endswith(".cpp"):
            continue
        suite = ""
        with open(os.path.join(tests_dir, name), encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                s = SUITE.search(line)
                if s:
                    suite = s["suite"]
                c = CASE.search(line)
                if c:
                    found.append((suite, c["plain"] or c["macro"], f"tests/{name}:{number}"))
    return found


def lint(root: str) -> list:
    try:
        exercises = markers.find_exercises(root)
    except markers.MarkerError as e:
        return [str(e)]
    problems = []
    by_lesson = {}
    for e in exercises:
        by_lesson.setdefault(e.lesson, []).append(e.number)
        readme = markers.lesson_readme(root, e.lesson)
        if e.anchor and e.anchor not in markers.readme_anchors(root, readme):
            problems.append(f"{e.path}:{e.begin + 1}: exercise {e.id}: {readme} has no heading "
                            f"with anchor #{e.anchor}")
    for lesson, numbers in by_lesson.items():
        if sorted(numbers) != list(range(1, len(numbers) + 1)):
            problems.append(f"lesson {lesson}: exercises are numbered {sorted(numbers)}; "
                            f"number them 1..{len(numbers)}")
    tests = exercise_tests(root)
    ids = {e.id: e for e in exercises}
    for suite, test_id, where in tests:
        if test_id not in ids:
            problems.append(f"{where}: test for exercise {test_id}, which no marker defines")
        elif suite != f"lesson{ids[test_id].lesson}":
            problems.append(f"{where}: test for exercise {test_id} is in suite '{suite}'; "
                            f"it belongs in TEST_SUITE(\"lesson{ids[test_id].lesson}\")")
    tested = {test_id for _, test_id, _ in tests}
    for e in exercises:
        if e.id not in tested:
            problems.append(f"{e.path}:{e.begin + 1}: exercise {e.id} ({e.title}) has no test "
                            f"case named \"{e.id} ...\" in TEST_SUITE(\"lesson{e.lesson}\")")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    root = os.path.normpath(parser.parse_args().src)
    problems = lint(root)
    for p in problems:
        print(f"lint_markers: {p}")
    if problems:
        sys.exit(1)
    exercises = markers.find_exercises(root)
    counts = {}
    for e in exercises:
        counts[e.lesson] = counts.get(e.lesson, 0) + 1
    summary = ", ".join(f"lesson {k}: {v}" for k, v in sorted(counts.items())) or "none"
    print(f"lint_markers: ok ({len(exercises)} exercises; {summary})")


if __name__ == "__main__":
    main()
