#!/usr/bin/env bash
# CI check of the classroom handouts (lessons/README.md). For every lesson with exercises (or
# the lessons named as arguments):
#   (0) the markers pass lessons/classroom/lint_markers.py;
#   (b) in this (solution) tree every exercise test passes;
#   (a) the handout made by make_student.py, copied to a temporary folder, builds from scratch
#       (`make -j2 OPT=-O1 build/tests` there: nothing is reused; -O1 compiles
#       faster and the exercise tests are small);
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

for lesson in $lessons; do
  tree="$scratch/lesson$lesson"
  echo "== lesson $lesson: handout in $tree"
  python3 "$classroom/make_student.py" --lesson "$lesson" --out "$tree" >/dev/null
  start=$SECONDS
  if ! (cd "$tree" && make -j2 --no-print-directory BUILD=build OPT=-O1 build/tests) \
       >"$scratch/build-$lesson.log" 2>&1; then
    grep -E -A3 "error|Error" "$scratch/build-$lesson.log" | head -40 ||
      tail -30 "$scratch/build-$lesson.log"
    echo "check_handouts: FAILED: (a) lesson $lesson's handout does not compile" >&2
    exit 1
  fi
  echo "   (a) builds from scratch ($((SECONDS - start)) s)"
  grade "$lesson" "$tree" fail
  echo "   (b) every test of lesson $lesson's exercises fails on a stub"
  for other in $all_lessons; do
    [ "$other" = "$lesson" ] && continue
    grade "$other" "$tree" pass
    echo "   (c) lesson $other's exercise tests pass (or skip) in this handout"
  done
  rm -rf "$tree"
done
echo "check_handouts: ok (lessons: $lessons)"
