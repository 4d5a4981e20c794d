#!/usr/bin/env bash
# CI check of the classroom handouts (lessons/README.md). For every lesson with exercises (or
# the lessons named as arguments):
#   (0) the markers pass lessons/classroom/lint_markers.py;
#   (b) in this (solution) tree every exercise test passes;
#   (a) the handout made by make_student.py, written to a temporary folder, builds
#       (`make -j2 OPT=-O1 build/tests` there; -O1 compiles faster and the exercise tests are
#       small). The first handout builds from scratch. Each later one starts from the previous
#       handout's build folder, and every file that differs between the two handouts is
#       touched, so make recompiles exactly what a clean build would compile differently
#       (the handouts differ only in the few files that hold exercises);
#   (b) in the handout every test of the lesson's exercises fails, on one of its stubs;
#   (c) in the handout the exercise tests of every other lesson pass (or skip, where they need
#       an earlier lesson's stub: tests/exercises.hpp).
# Prints what it checks and exits 1 at the first failure.
#
#   lessons/classroom/check_handouts.sh [LESSON...]      e.g. lessons/classroom/check_handouts.sh 01
# BUILD=dir picks the solution tree's build folder (default build; built here if stale).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
classroom="$root/lessons/classroom"
build=${BUILD:-build}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

all_lessons=$(cd "$classroom" && python3 -c \
  'import markers; print(" ".join(sorted({e.lesson for e in markers.find_exercises("../..")})))')
lessons=${*:-$all_lessons}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/handouts.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# grade LESSON TREE EXPECT [BUILD]: grades LESSON's exercises in TREE (with TREE/BUILD/tests,
# default build) quietly, showing the table only when the outcome is not EXPECT (pass or fail).
grade() {
  local log="$scratch/grade-$1.log"
  if ! python3 "$classroom/grade.py" --lesson "$1" --src "$2" --tests "$2/${4:-build}/tests" \
       --json "$scratch/grade-$1.json" --expect "$3" >"$log" 2>&1; then
    cat "$log"
    echo "check_handouts: FAILED: lesson $1's exercise tests did not all $3 in $2" >&2
    exit 1
  fi
}

echo "== lint_markers"
python3 "$classroom/lint_markers.py"

echo "== solution tree: make $build/tests, then every exercise test passes (lessons: $all_lessons)"
make -j2 --no-print-directory BUILD="$build" "$build/tests" >"$scratch/solution-build.log" 2>&1 ||
  { tail -30 "$scratch/solution-build.log"; echo "check_handouts: FAILED: the solution does not build" >&2; exit 1; }
for lesson in $all_lessons; do
  grade "$lesson" "$root" pass "$build"
done

# reuse_build PREVIOUS TREE: moves PREVIOUS's build folder into TREE and touches each file of
# TREE that PREVIOUS lacks or holds with other bytes, so that it is newer than every object.
# (make_student.py copies unchanged files with their old times, which alone would not do:
# a file stubbed in PREVIOUS and restored in TREE would keep the stub's object.)
reuse_build() {
  mv "$1/build" "$2/build"
  (cd "$2" && find . -path ./build -prune -o -type f -print) | while IFS= read -r path; do
    cmp -s "$1/$path" "$2/$path" || touch "$2/$path"
  done
}

previous=""
for lesson in $lessons; do
  tree="$scratch/lesson$lesson"
  echo "== lesson $lesson: handout in $tree"
  python3 "$classroom/make_student.py" --lesson "$lesson" --out "$tree" >/dev/null
  how="from scratch"
  if [ -n "$previous" ]; then
    reuse_build "$previous" "$tree"
    how="on lesson ${previous##*lesson}'s handout build, changed files touched"
    rm -rf "$previous"
  fi
  start=$SECONDS
  if ! (cd "$tree" && make -j2 --no-print-directory BUILD=build OPT=-O1 build/tests) \
       >"$scratch/build-$lesson.log" 2>&1; then
    grep -E -A3 "error|Error" "$scratch/build-$lesson.log" | head -40 ||
      tail -30 "$scratch/build-$lesson.log"
    echo "check_handouts: FAILED: (a) lesson $lesson's handout does not compile" >&2
    exit 1
  fi
  echo "   (a) builds ($how: $((SECONDS - start)) s)"
  grade "$lesson" "$tree" fail
  echo "   (b) every test of lesson $lesson's exercises fails on a stub"
  for other in $all_lessons; do
    [ "$other" = "$lesson" ] && continue
    grade "$other" "$tree" pass
    echo "   (c) lesson $other's exercise tests pass (or skip) in this handout"
  done
  previous=$tree
done
echo "check_handouts: ok (lessons: $lessons)"
