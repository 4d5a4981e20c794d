#!/usr/bin/env bash
# Packs .gpu/: everything a lent GPU machine needs that the working tree lacks, so that one
# device call runs tests/gpu_checks.sh with no build and no install there. Run it here, on a
# machine without a GPU:
#
#   tests/gpu_pack.sh            (reads MNIST from $TINYDIFF_DATA, else ../shared/data)
#
#   .gpu/bin/      tests, lesson01, bench from `make CUDA=1`, built for x86-64-v3 (AVX2): the
#                  GPU machine's processor is not this one, so no -march=native
#   .gpu/lib/      the Debian libraries they load that the GPU machine may lack (libstb, libgomp)
#   .gpu/include/  Eigen, doctest and stb headers, for a rebuild there should the binaries fail
#   .gpu/data/     MNIST, for the lesson stage, and the first 4096 CC0 sprites, for the tests
#                  that train on sprites (the whole file is 62 MiB)
#
# Why: the lent machine has no package registry (no apt-get, so `make` could not install its
# headers) and its device time is short (15 minutes a task, start-up included): building there
# would spend minutes of it. The device tool carries .gpu along with the working tree (64 MiB in
# all); this script checks the size. Then, with the device tool:
#
#   run  command "tests/gpu_checks.sh"  carry [".gpu"]  timeout_s 600
set -euo pipefail
cd "$(dirname "$0")/.."

pack=.gpu
build=build-gpu
data=${TINYDIFF_DATA:-../shared/data}
nvcc=${NVCC:-/usr/local/cuda/bin/nvcc}
[ -x "$nvcc" ] || { echo "gpu_pack: $nvcc not found: the CUDA build needs nvcc (set NVCC)" >&2; exit 1; }
[ -f "$data/mnist/train-images-idx3-ubyte.gz" ] ||
  { echo "gpu_pack: no MNIST in $data/mnist (set TINYDIFF_DATA to the data folder)" >&2; exit 1; }

echo "gpu_pack: building $build (make CUDA=1, x86-64-v3)"
programs=("$build/tests" "$build/lesson01" "$build/bench")
mkdir -p "$build"
make CUDA=1 BUILD="$build" OPT="-O3 -march=x86-64-v3" "${programs[@]}" > "$build/pack.log" 2>&1 ||
  { tail -n 20 "$build/pack.log"; echo "gpu_pack: build failed, see $build/pack.log" >&2; exit 1; }

rm -rf "$pack"
mkdir -p "$pack/bin" "$pack/lib" "$pack/include" "$pack/data/mnist"
cp "${programs[@]}" "$pack/bin/"
for lib in libstb.so.0 libgomp.so.1; do
  path=$(ldd "$build/tests" | awk -v lib="$lib" '$1 == lib { print $3 }')
  [ -n "$path" ] || { echo "gpu_pack: $build/tests does not load $lib" >&2; exit 1; }
  cp -L "$path" "$pack/lib/$lib"
done
cp -rL /usr/include/eigen3 /usr/include/doctest /usr/include/stb /usr/include/zlib.h \
  /usr/include/zconf.h "$pack/include/"
cp "$data"/mnist/*-ubyte.gz "$pack/data/mnist/"
mkdir -p "$pack/data/sprites-cc0"
# The first 4096 rows of each .npy file, with the standard library alone (Debian's python3 may
# lack numpy): a version 1 or 2 header (magic, version, header length, a dict with the dtype and
# shape), then the rows, written back behind a version-1 header padded to 64 bytes.
python3 - "$data/sprites-cc0" "$pack/data/sprites-cc0" <<'EOF'
import ast, math, struct, sys
source, target = sys.argv[1:]
for name in ("sprites_16x16.npy", "sprite_labels_16x16.npy"):
    with open(f"{source}/{name}", "rb") as f:
        magic = f.read(8)
        assert magic[:6] == b"\x93NUMPY", f"gpu_pack: {name} is not a .npy file"
        size = "<H" if magic[6] == 1 else "<I"
        (length,) = struct.unpack(size, f.read(struct.calcsize(size)))
        header = ast.literal_eval(f.read(length).decode("latin1"))
        shape = header["shape"]
        rows = min(4096, shape[0])
        data = f.read(rows * int(header["descr"][2:]) * math.prod(shape[1:]))
    header["shape"] = (rows,) + tuple(shape[1:])
    text = repr(header).encode("latin1")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    with open(f"{target}/{name}", "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data)
EOF

# What travels: the files git would send (tracked and untracked, not ignored) plus .gpu.
tree_kb=$(git ls-files -z --cached --others --exclude-standard | du -ck --files0-from=- | tail -n 1 | cut -f1)
pack_kb=$(du -sk "$pack" | cut -f1)
total_mb=$(((tree_kb + pack_kb) / 1024))
echo "gpu_pack: $pack is $((pack_kb / 1024)) MiB, the working tree $((tree_kb / 1024)) MiB: $total_mb of 64 MiB"
[ "$total_mb" -lt 64 ] || { echo "gpu_pack: over the device tool's 64 MiB" >&2; exit 1; }
echo "gpu_pack: ready. Device tool: run command \"tests/gpu_checks.sh\" carry [\".gpu\"] timeout_s 600"
