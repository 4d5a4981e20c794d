#!/usr/bin/env python3
"""Writes a student handout of one lesson: a copy of the tree in which each exercise of that
lesson (and of no other) is replaced by a stub that throws tinydiff::NotImplemented.

    python3 lessons/classroom/make_student.py --lesson 01 --out /tmp/student
    (or: make student LESSON=01 OUT=/tmp/student)

The copy holds the git-tracked files plus the untracked files git does not ignore. It is
written to OUT.partial first and renamed to OUT when complete, so a failure leaves no half
handout. See lessons/README.md.
"""
import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import markers  # noqa: E402


def fail(message: str) -> None:
    print(f"make_student: {message}", file=sys.stderr)
    sys.exit(1)


def tree_files(root: str) -> list:
    """git ls-files: tracked and untracked-but-not-ignored files that exist on disk."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                  "--exclude-standard"], cwd=root, check=True,
                                 capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f"{root} is not a git checkout; `git ls-files` failed ({e})")
    paths = sorted({p for p in listing.decode("utf-8").split("\0") if p})
    return [p for p in paths if os.path.lexists(os.path.join(root, p))]


def check_out_dir(root: str, out: str) -> None:
    real_root, real_out = os.path.realpath(root), os.path.realpath(out)
    if real_out == real_root or real_out.startswith(real_root + os.sep):
        fail(f"OUT {out} is inside the source tree {root}; choose a folder outside it")
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        fail(f"OUT {out} already exists and is not an empty folder; remove it or choose another")


def copy_tree(root: str, files: list, lesson: str, dest: str) -> int:
    """Copies files into dest, stubbing lesson's exercises; returns the number of stubs."""
    stubs = 0
    for path in files:
        source, target = os.path.join(root, path), os.path.join(dest, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        text = markers.stub_file(root, path, lesson) if path.endswith(markers.SOURCE_SUFFIXES) \
            and not os.path.islink(source) else None
        if text is None:
            shutil.copy2(source, target, follow_symlinks=False)
            continue
        with open(target, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        shutil.copymode(source, target)
        stubs += sum(1 for e in markers.parse_file(path, markers.read_lines(root, path))
                     if e.lesson == lesson)
    return stubs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", required=True, help="two digits, e.g. 01")
    parser.add_argument("--out", required=True, help="the folder to create")
    parser.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", ".."),
                        help="the solution tree (default: this checkout)")
    args = parser.parse_args()
    root = os.path.normpath(args.src)
    if not (len(args.lesson) == 2 and args.lesson.isdigit()):
        fail(f"LESSON must be two digits such as 01, got {args.lesson!r}")
    if not args.out:
        fail("OUT is empty; say where to write the handout: make student LESSON=01 OUT=dir")
    files = tree_files(root)
    try:
        exercises = markers.find_exercises(root, files)
    except markers.MarkerError as e:
        fail(str(e))
    lessons = sorted({e.lesson for e in exercises})
    if args.lesson not in lessons:
        fail(f"lesson {args.lesson} has no exercises (lessons with exercises: "
             f"{', '.join(lessons) or 'none'})")
    check_out_dir(root, args.out)
    partial = os.path.normpath(args.out) + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        stubs = copy_tree(root, files, args.lesson, partial)
        if os.path.isdir(args.out):
            os.rmdir(args.out)
        os.rename(partial, args.out)
    except (OSError, markers.MarkerError) as e:
        shutil.rmtree(partial, ignore_errors=True)
        fail(f"could not write {args.out}: {e}")
    print(f"make_student: lesson {args.lesson}: {stubs} exercises stubbed, {len(files)} files "
          f"-> {args.out}")
    print(f"  build and grade it with: cd {args.out} && make grade LESSON={args.lesson}")


if __name__ == "__main__":
    main()
