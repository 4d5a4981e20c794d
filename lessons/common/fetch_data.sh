#!/usr/bin/env bash
# Downloads the four MNIST files into DIR/mnist/ (default ./data) and checks their sha256 sums
# (from ../shared/data/README.md). Called by `make data`. Each file is downloaded to a temporary
# name and renamed only once its checksum is right, so an interrupted run leaves no bad file.
#
#   lessons/common/fetch_data.sh [DIR]
set -euo pipefail

dir="${1:-data}"
mirrors=(
  "https://ossci-datasets.s3.amazonaws.com/mnist"
  "https://storage.googleapis.com/cvdf-datasets/mnist"
  "http://yann.lecun.com/exdb/mnist"
)
declare -A sha256=(
  [train-images-idx3-ubyte.gz]=440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609
  [train-labels-idx1-ubyte.gz]=3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c
  [t10k-images-idx3-ubyte.gz]=8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6
  [t10k-labels-idx1-ubyte.gz]=f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6
)

say() { printf 'fetch_data: %s\n' "$*" >&2; }

checksum() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

# download URL FILE: true when the URL could be fetched into FILE.
download() {
  if command -v curl >/dev/null; then
    curl -fsSL --connect-timeout 10 --max-time 600 -o "$2" "$1"
  elif command -v wget >/dev/null; then
    wget -q --timeout=10 -O "$2" "$1"
  else
    say "neither curl nor wget is installed"; return 1
  fi
}

explain_offline() {
  say "could not download $1 from any mirror. Is there no network connection?"
  say "If you have a copy of the data folder, use it instead of downloading:"
  if [ -d ../shared/data/mnist ]; then
    say "  export TINYDIFF_DATA=../shared/data     (a copy exists there)"
  else
    say "  export TINYDIFF_DATA=/path/to/data      (the folder that holds mnist/)"
  fi
  say "or pass --data DIR to the lesson programs."
}

mkdir -p "$dir/mnist"
partial=""
trap '[ -n "$partial" ] && rm -f "$partial"' EXIT

for file in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  target="$dir/mnist/$file"
  if [ -f "$target" ] && [ "$(checksum "$target")" = "${sha256[$file]}" ]; then
    say "$target is already there (checksum ok)"
    continue
  fi
  partial="$dir/mnist/.$file.part.$$"
  fetched=0
  for mirror in "${mirrors[@]}"; do
    say "downloading $mirror/$file"
    if download "$mirror/$file" "$partial"; then
      if [ "$(checksum "$partial")" = "${sha256[$file]}" ]; then
        mv "$partial" "$target"
        fetched=1
        break
      fi
      say "wrong sha256 for $file from $mirror; trying the next mirror"
    fi
    rm -f "$partial"
  done
  partial=""
  if [ "$fetched" != 1 ]; then
    explain_offline "$file"
    exit 1
  fi
done
say "MNIST is in $dir/mnist/"

cat >&2 <<'NOTE'
fetch_data: About the sprites: the course's sprite images (sprites_1788_16x16.npy) are not
fetch_data: publicly available, so they cannot be downloaded. The CC0 stand-in sprites-cc0/ (same
fetch_data: format) is in ../shared/data; use it with TINYDIFF_DATA=../shared/data or --data.
NOTE
