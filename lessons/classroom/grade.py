#!/usr/bin/env python3
"""Grades one lesson's exercises: runs each exercise's tests, prints a table and writes
grade.json. It exits 0 whatever the score (1 only when it cannot grade at all, or, with
--expect, when the outcome is not the expected one: lessons/classroom/check_handouts.sh).

    python3 lessons/classroom/grade.py --lesson 01 --tests build/tests
    (or: make grade LESSON=01, which builds build/tests first)

An exercise NN.n's tests are the doctest cases in suite "lessonNN" whose names start with
"NN.n " (tests/test_exercises_lessonNN.cpp). Each exercise is worth MAX_POINTS, shared equally
among its tests. A test that crashes or runs past --timeout counts as failed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import markers  # noqa: E402

MAX_POINTS = 10  # per exercise


def fail(message: str) -> None:
    print(f"grade: {message}", file=sys.stderr)
    sys.exit(1)


def escape_filter(name: str) -> str:
    """A test name as one doctest -tc filter (a comma would split it into two)."""
    return name.replace("\\", "\\\\").replace(",", "\\,")


def run_doctest(tests: str, args: list, timeout: float, cwd: str):
    """Runs the test binary with the XML reporter; returns (results, problem) where results maps
    each test case that finished to (passed, why) and problem says why the run ended early (""
    when it did not). `why` is the first failure, or "skipped: ..." for a case that passed by
    skipping (tests/exercises.hpp), else ""."""
    with tempfile.TemporaryDirectory() as tmp:
        xml_path = os.path.join(tmp, "report.xml")
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
        command = [tests, "--reporters=xml", f"--out={xml_path}"] + args
        try:
            rc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                timeout=timeout, env=env, cwd=cwd).returncode
        except subprocess.TimeoutExpired:
            return {}, f"timed out after {timeout:.0f} s"
        try:
            report = ET.parse(xml_path).getroot()
        except (ET.ParseError, OSError):
            return {}, f"crashed (exit status {rc})"
    results = {}
    for case in report.iter("TestCase"):
        totals = case.find("OverallResultsAsserts")
        if totals is None:
            continue
        # The exception that ended the case (a stub's message) if any, else the first failed check.
        failure = next(case.iter("Exception"), None)
        if failure is None:
            failure = next((el for el in case.iter("Expression") if el.get("success") == "false"),
                           None)
        if failure is None:  # passed; tests/test_main.cpp's skip() leaves a "skipped:" message
            failure = next((m for m in case.iter("Message")
                            if "".join(m.itertext()).strip().startswith("skipped:")), None)
        text = " ".join("".join(failure.itertext()).split()) if failure is not None else ""
        results[case.get("name")] = (totals.get("test_case_success") == "true", text)
    return results, ""


def list_tests(tests: str, suite: str, cwd: str) -> list:
    """The names of the test cases in doctest suite `suite`."""
    with tempfile.TemporaryDirectory() as tmp:
        xml_path = os.path.join(tmp, "list.xml")
        try:
            subprocess.run([tests, f"-ts={suite}", "--list-test-cases", "--reporters=xml",
                            f"--out={xml_path}"], stdout=subprocess.DEVNULL, check=True,
                           timeout=60, cwd=cwd)
            report = ET.parse(xml_path).getroot()
        except (OSError, subprocess.SubprocessError, ET.ParseError) as e:
            fail(f"could not list the tests of {tests} ({e})")
    return [c.get("name") for c in report.iter("TestCase") if c.get("skipped") != "true"]


def grade_exercise(tests: str, suite: str, e: markers.Exercise, names: list, timeout: float,
                   cwd: str):
    """{name: (passed, why)} for the exercise's tests: one run, or one run per test when the
    first run crashed or hung part way."""
    results, problem = run_doctest(tests, [f"-ts={suite}", f"-tc={e.id} *"], timeout, cwd)
    if not problem:
        return {n: results.get(n, (False, "did not run")) for n in names}
    graded = {}
    for name in names:
        one, problem = run_doctest(tests, [f"-ts={suite}", f"-tc={escape_filter(name)}"],
                                   timeout, cwd)
        graded[name] = one.get(name, (False, problem or "did not run"))
    return graded


def grade(root: str, lesson: str, tests: str, timeout: float, build_failed: bool) -> dict:
    try:
        exercises = [e for e in markers.find_exercises(root) if e.lesson == lesson]
    except markers.MarkerError as e:
        fail(str(e))
    if not exercises:
        fail(f"lesson {lesson} has no exercises (no // BEGIN EXERCISE {lesson}.n markers)")
    suite = f"lesson{lesson}"
    all_names = [] if build_failed else list_tests(tests, suite, root)
    rows = []
    for e in exercises:
        names = [n for n in all_names if n.startswith(e.id + " ")]
        outcome = grade_exercise(tests, suite, e, names, timeout, root) if names else {}
        passed = sum(1 for ok, _ in outcome.values() if ok)
        skipped = sum(1 for ok, why in outcome.values() if ok and why.startswith("skipped:"))
        points = round(MAX_POINTS * passed / len(names), 2) if names else 0.0
        rows.append({"id": e.id, "title": e.title, "passed": passed, "skipped": skipped,
                     "total": len(names), "points": points, "max": MAX_POINTS,
                     "failed": [{"test": n, "why": why} for n, (ok, why) in outcome.items()
                                if not ok]})
    return {"lesson": lesson, "score": round(sum(r["points"] for r in rows), 2),
            "max": MAX_POINTS * len(rows), "build_failed": build_failed, "exercises": rows}


def check_expectation(g: dict, expect: str) -> None:
    """Exits 1, naming the exercises, unless every test passed (expect "pass") or every test
    failed on a stub of the lesson (expect "fail": its message "NN.n: ..." is in the failure).
    An exercise without tests never meets either."""
    stub = re.compile(rf"\b{g['lesson']}\.\d+: ")

    def met(r):
        if expect == "pass":
            return r["total"] > 0 and r["passed"] == r["total"]
        return r["total"] > 0 and r["passed"] == 0 and all(stub.search(f["why"])
                                                            for f in r["failed"])
    wrong = [r["id"] for r in g["exercises"] if not met(r)]
    if wrong:
        fail(f"lesson {g['lesson']}: expected every test to {expect}, but not in exercises "
             f"{', '.join(wrong)}")


def print_table(g: dict) -> None:
    width = max(len(r["title"]) for r in g["exercises"])
    print(f"\nLesson {g['lesson']}: grade" + (" (the build failed: no test ran)"
                                            if g["build_failed"] else ""))
    print(f"  {'exercise':<9} {'title':<{width}}  {'tests':>7}  {'points':>11}")
    for r in g["exercises"]:
        tests = f"{r['passed']}/{r['total']}"
        skipped = f"  ({r['skipped']} skipped: they need another lesson's exercises)" \
            if r["skipped"] else ""
        print(f"  {r['id']:<9} {r['title']:<{width}}  {tests:>7}  "
              f"{r['points']:>5g} / {r['max']:<3}{skipped}")
    print(f"  {'total':<9} {'':<{width}}  {'':>7}  {g['score']:>5g} / {g['max']:<3}")
    failures = [(r["id"], f) for r in g["exercises"] for f in r["failed"]]
    if failures:
        print("\nFailed tests:")
        for _, f in failures:
            why = f["why"] if len(f["why"]) <= 160 else f["why"][:157] + "..."
            print(f"  {f['test']}\n      {why}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", required=True, help="two digits, e.g. 01")
    parser.add_argument("--tests", default="build/tests", help="the doctest binary")
    parser.add_argument("--json", default="grade.json", help="where to write the grade")
    parser.add_argument("--src", default=".", help="the tree whose markers name the exercises")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per test run")
    parser.add_argument("--build-failed", action="store_true",
                        help="the tests did not build: write a zero grade")
    parser.add_argument("--expect", choices=["pass", "fail"],
                        help="for CI: exit 1 unless every test passed (pass) or failed (fail)")
    args = parser.parse_args()
    if not (len(args.lesson) == 2 and args.lesson.isdigit()):
        fail(f"LESSON must be two digits such as 01, got {args.lesson!r}")
    if not args.build_failed and not os.access(args.tests, os.X_OK):
        fail(f"no test binary at {args.tests} (build it with: make {args.tests})")
    tests = os.path.abspath(args.tests)
    g = grade(args.src, args.lesson, tests, args.timeout, args.build_failed)
    print_table(g)
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(g, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"\nwrote {args.json}")
    if args.build_failed:
        sys.exit(1)
    if args.expect:
        check_expectation(g, args.expect)


if __name__ == "__main__":
    main()
