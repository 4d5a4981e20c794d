#!/usr/bin/env python3
"""Turns a CUDA source file into C++ for the emulated build (make CUDA=emu).

    python3 tests/cuda_emu/rewrite_launches.py tensor/cuda/reduce.cu BUILD/emu/.../reduce.cpp

Each kernel launch

    kernel<<<grid, block[, shared_bytes[, stream]]>>>(args...)

becomes a call into the emulator (tests/cuda_emu/emulator.hpp), on the launch's first line:

    ::tinydiff_emu::launch({"kernel", __FILE__, __LINE__}, kernel, grid, block)(args...)

The kernel may be a name, a qualified name or a template-id (`unary_kernel<decltype(f)>`).
Everything else is copied unchanged; the lines a launch spanned are kept as empty lines, and a
#line directive names the .cu file, so compiler errors and __FILE__/__LINE__ point at the .cu
source. Like nvcc, the output includes <cuda_runtime.h> first. A `<<<` the script cannot
parse is an error naming file:line.
"""
import re
import sys

IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


class LaunchError(Exception):
    pass


def mask_comments_and_literals(text):
    """The text with every comment and string or character literal blanked out (newlines
    kept), so that offsets still match and a `<<<` in a comment is not taken for a launch."""
    out = list(text)
    i, n = 0, len(text)

    def blank(start, end):
        for j in range(start, end):
            if out[j] != "\n":
                out[j] = " "

    while i < n:
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            blank(i, end)
            i = end
        elif text[i] in "\"'" and not (text[i] == "'" and i > 0 and text[i - 1].isalnum()):
            quote, j = text[i], i + 1  # a ' after a digit or letter is a digit separator
            while j < n and text[j] != quote and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, min(j, n))
            i = j + 1
        else:
            i += 1
    return "".join(out)


def kernel_start(masked, end):
    """Start of the kernel expression that ends at `end` (just before `<<<`): identifiers,
    `::` and balanced template argument lists, with no space between them."""
    i = end
    while i > 0:
        if masked[i - 1] == ">":
            depth, j = 0, i - 1
            while j >= 0:
                if masked[j] in ">)":
                    depth += 1
                elif masked[j] in "<(":
                    depth -= 1
                    if depth == 0:
                        break
                j -= 1
            if j < 0 or masked[j] != "<":
                raise LaunchError("unbalanced template arguments before <<<")
            i = j
        elif masked[i - 1].isalnum() or masked[i - 1] == "_":
            while i > 0 and (masked[i - 1].isalnum() or masked[i - 1] == "_"):
                i -= 1
        elif masked[i - 2:i] == "::":
            i -= 2
        else:
            break
    expression = masked[i:end]
    if not re.match(r"(::)?[A-Za-z_]", expression):
        raise LaunchError("no kernel name before <<<")
    return i


def split_config(masked, start):
    """The comma-separated launch configuration that starts at `start` (just after `<<<`), and
    the offset just after its `>>>`. Commas inside (), [] or {} do not split."""
    parts, depth, begin, i = [], 0, start, start
    while i < len(masked):
        c = masked[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                raise LaunchError("unbalanced brackets in the launch configuration")
        elif depth == 0 and c == ",":
            parts.append((begin, i))
            begin = i + 1
        elif depth == 0 and masked.startswith(">>>", i):
            parts.append((begin, i))
            return parts, i + 3
        i += 1
    raise LaunchError("no >>> closes the launch configuration")


def rewrite(text, path):
    masked = mask_comments_and_literals(text)
    out, copied = [], 0
    for match in re.finditer(r"<<<", masked):
        if match.start() < copied:
            continue  # inside the configuration of the previous launch
        line = text.count("\n", 0, match.start()) + 1
        try:
            end_name = match.start()
            while end_name > 0 and masked[end_name - 1] in " \t":
                end_name -= 1
            start = kernel_start(masked, end_name)
            parts, after = split_config(masked, match.end())
            if not 2 <= len(parts) <= 4 or any(not masked[a:b].strip() for a, b in parts):
                raise LaunchError("expected <<<grid, block[, shared_bytes[, stream]]>>>")
            if not masked[after:].lstrip().startswith("("):
                raise LaunchError("no argument list after >>>")
        except LaunchError as error:
            raise SystemExit(f"{path}:{line}: cannot rewrite this kernel launch: {error}")
        kernel = text[start:end_name]
        config = ", ".join(" ".join(text[a:b].split()) for a, b in parts)
        name = kernel.replace("\\", "\\\\").replace('"', '\\"')
        out.append(text[copied:start])
        out.append(f'::tinydiff_emu::launch({{"{name}", __FILE__, __LINE__}}, {kernel}, {config})')
        out.append("\n" * text.count("\n", start, after))
        copied = after
    out.append(text[copied:])
    return "".join(out)


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: rewrite_launches.py INPUT.cu OUTPUT.cpp")
    source, target = sys.argv[1], sys.argv[2]
    with open(source) as f:
        text = f.read()
    body = rewrite(text, source)
    with open(target, "w") as f:
        f.write(f"// Generated from {source} by tests/cuda_emu/rewrite_launches.py.\n")
        f.write("#include <cuda_runtime.h>  // as nvcc does for every .cu file\n")
        f.write(f'#line 1 "{source}"\n')
        f.write(body)


if __name__ == "__main__":
    main()
