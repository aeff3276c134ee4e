#!/usr/bin/env python3
"""Copies a CUDA source (.cu / .cuh / kernels.h) to plain C++ for the host emulation (tests/cuda_emu):

  K<<<grid, block[, smem[, stream]]>>>(args);  ->  ::fl_emu::launch(grid, block, [&] { K(args); });
  fl::cuda                                     ->  fl::cuda_emu   (links next to a fl_core with the real launchers)

Usage: translate_cu.py SRC DST. The production files are never modified."""
import re
import sys


def _match_back(text, close, open_, end):
    """Index of the `open_` that balances the `close` at text[end]."""
    depth = 0
    for i in range(end, -1, -1):
        if text[i] == close:
            depth += 1
        elif text[i] == open_:
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced %s%s before offset %d" % (open_, close, end))


def _match_forward(text, start):
    """Index just past the parenthesis that closes the one at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError("unbalanced ( at offset %d" % start)


def _split_top(s):
    """Splits at the commas outside (), [], {}."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


def rewrite_launches(text):
    out, pos = [], 0
    while True:
        lt = text.find("<<<", pos)
        if lt < 0:
            out.append(text[pos:])
            return "".join(out)
        # The callee: an identifier (with ::) optionally followed by template arguments.
        j = lt - 1
        while text[j].isspace():
            j -= 1
        if text[j] == ">":
            j = _match_back(text, ">", "<", j) - 1
        while j >= 0 and (text[j].isalnum() or text[j] in "_:"):
            j -= 1
        start = j + 1
        gt = text.find(">>>", lt)
        config = _split_top(text[lt + 3:gt])
        if len(config) < 2:
            raise ValueError("launch without grid and block at offset %d" % lt)
        k = gt + 3
        while text[k].isspace():
            k += 1
        if text[k] != "(":
            raise ValueError("launch without arguments at offset %d" % lt)
        args_end = _match_forward(text, k)
        callee = text[start:lt].strip()
        out.append(text[pos:start])
        out.append("::fl_emu::launch(%s, %s, [&] { %s%s; })" % (config[0], config[1], callee, text[k:args_end]))
        pos = args_end


def translate(text):
    text = rewrite_launches(text)
    return re.sub(r"\bfl::cuda\b", "fl::cuda_emu", text)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        text = f.read()
    out = '// Generated from %s by tests/cuda_emu/translate_cu.py: do not edit.\n#line 1 "%s"\n' % (src, src)
    with open(dst, "w", encoding="utf-8") as f:
        f.write(out + translate(text))


if __name__ == "__main__":
    main()
