#!/usr/bin/env bash
# tinydiff vs PyTorch on the benchmark cases, one case at a time, alternating the two so that
# both see the same background load (make bench-compare runs this).
#
#   tests/bench/compare.sh [BUILD_DIR] [CASE_PATTERN]
#
# Environment: BENCH_ARGS (default "--repeat 10 --warmup 3") goes to both benchmarks;
# PYTHON (default /usr/bin/python3, Debian's PyTorch). The JSON lines of each side are kept in
# BUILD_DIR/bench-tinydiff.jsonl and BUILD_DIR/bench-pytorch.jsonl; the table goes to stdout.
# ratio = tinydiff ms / PyTorch ms (below 1: tinydiff is faster).
set -euo pipefail

build=${1:-build}
pattern=${2:-*}
python=${PYTHON:-/usr/bin/python3}
args=${BENCH_ARGS:---repeat 10 --warmup 3}
here=$(cd "$(dirname "$0")" && pwd)
ours="$build/bench"
theirs="$here/bench_torch.py"
[ -x "$ours" ] || { echo "compare.sh: $ours not found (run make first)" >&2; exit 1; }

ours_jsonl="$build/bench-tinydiff.jsonl"
theirs_jsonl="$build/bench-pytorch.jsonl"
: > "$ours_jsonl"
: > "$theirs_jsonl"
torch_cases=$("$python" "$theirs" --list)
for c in $("$ours" --list --case "$pattern"); do
  # shellcheck disable=SC2086
  "$ours" --case "$c" $args >> "$ours_jsonl" || echo "compare.sh: tinydiff failed on $c" >&2
  if grep -qx "$c" <<< "$torch_cases"; then
    # shellcheck disable=SC2086
    "$python" "$theirs" --case "$c" $args >> "$theirs_jsonl" || echo "compare.sh: PyTorch failed on $c" >&2
  fi
done

"$python" - "$ours_jsonl" "$theirs_jsonl" <<'EOF'
import json, sys

def read(path):
    rows = {}
    for line in open(path):
        if line.startswith("{"):
            r = json.loads(line)
            rows[r["case"]] = r
    return rows

ours, theirs = read(sys.argv[1]), read(sys.argv[2])
threads = lambda rows: ",".join(sorted({str(r.get("threads")) for r in rows.values()})) or "-"
print(f"threads: tinydiff {threads(ours)}, PyTorch {threads(theirs)}; ms = median per step")


def cell(row, key, fmt, scale=1):
    return fmt % (row[key] * scale) if row and row.get(key) is not None else "-"


def table(title, columns, names):
    """columns: (heading, key, format, scale), each shown for tinydiff then PyTorch."""
    if not names:
        return
    head = ["case", "tinydiff ms", "PyTorch ms", "ratio"]
    for heading, *_ in columns:
        head += ["tinydiff " + heading, "PyTorch " + heading]
    print(f"\n{title}\n\n| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for name in names:
        a, b = ours[name], theirs.get(name)
        ratio = "%.2f" % (a["ms_per_step"] / b["ms_per_step"]) if b else "-"
        row = [name, cell(a, "ms_per_step", "%.1f"), cell(b, "ms_per_step", "%.1f"), ratio]
        for _, key, fmt, scale in columns:
            row += [cell(a, key, fmt, scale), cell(b, key, fmt, scale)]
        print("| " + " | ".join(row) + " |")


gpu = [n for n, r in ours.items() if r.get("peak_device_mb") is not None]
table("CPU cases", [("img/s", "images_per_s", "%.0f", 1), ("RSS MB", "peak_rss_mb", "%.0f", 1)],
      [n for n in ours if n not in gpu])
table("GPU cases", [("img/s", "images_per_s", "%.0f", 1), ("TFLOP/s", "gflops", "%.2f", 1e-3),
                    ("device MB", "peak_device_mb", "%.0f", 1)], gpu)
# Both sides count FLOPs layer by layer; a disagreement means one of them missed a layer.
for name, a in ours.items():
    b = theirs.get(name)
    fa, fb = a.get("gflop_per_step"), b and b.get("gflop_per_step")
    if fa and fb and abs(fa - fb) > 0.01 * fb:
        print(f"compare.sh: {name}: tinydiff counts {fa} GFLOP per step, PyTorch {fb}",
              file=sys.stderr)
EOF
