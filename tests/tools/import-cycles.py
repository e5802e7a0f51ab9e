#!/usr/bin/env python3
"""Finds import circles between the files of `src/`.

Every `crate::`, `super::` and `self::` path in a file (in `use` lines and inline) is resolved
to the file that defines the longest matching module path, giving a file-level graph; its
strongly connected components with more than one file are the circles. A parent's `mod x;`
declaration is not an edge, but a parent that names a child's item is, so a child reaching
back to its parent's items shows up as a circle. Exit 1 when there is one.

Usage: python3 tests/tools/import-cycles.py [SRC_DIR]
"""
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "src"


def module_of(path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


files = {}
for root, _, names in os.walk(src):
    for name in names:
        if name.endswith(".rs"):
            path = os.path.join(root, name)
            if name == "main.rs" and root == src:
                continue
            files[module_of(path)] = path


def strip_tests(text):
    # Unit-test modules may import anything of their parent; they are not part of the graph.
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
    return text[: cut.start()] if cut else text


def expand(prefix, body):
    """Expands `a::{b, c::{d, e}}` into full paths."""
    out = []
    depth, start, parts = 0, 0, []
    for i, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    for part in parts:
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([\w:]*?)(?:::)?\{(.*)\}$", part, re.S)
        if m:
            head = [s for s in m.group(1).split("::") if s]
            out += expand(prefix + head, m.group(2))
        else:
            name = part.split(" as ")[0].strip()
            out.append(prefix + [s for s in name.split("::") if s])
    return out


def resolve(module, path):
    if not path:
        return None
    if path[0] == "crate":
        base, rest = (), path[1:]
    elif path[0] in ("super", "self"):
        base, rest = module, list(path)
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    else:
        return None
    full = tuple(base) + tuple(rest)
    for n in range(len(full), -1, -1):
        if full[:n] in files:
            return full[:n]
    return None


edges = {m: set() for m in files}
for module, path in files.items():
    text = strip_tests(open(path, encoding="utf-8").read())
    text = re.sub(r"//[^\n]*", "", text)
    paths = []
    for m in re.finditer(r"\buse\s+((?:crate|super|self)[^;]*);", text, re.S):
        paths += expand([], m.group(1).replace("\n", " "))
    for m in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", text):
        paths.append(m.group(1).split("::"))
    # Paths through a child module the file declares (`mod x;` then `x::Item`).
    children = re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, re.M)
    for child in children:
        for m in re.finditer(r"(?<![\w:])" + child + r"((?:::\w+)+)", text):
            paths.append(["self", child] + m.group(1).split("::")[1:])
        for m in re.finditer(r"\buse\s+" + child + r"::([^;]*);", text, re.S):
            paths += expand(["self", child], m.group(1).replace("\n", " "))
    for p in paths:
        target = resolve(module, p)
        if target is not None and target != module:
            edges[module].add(target)

# Tarjan's strongly connected components.
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(comp)


sys.setrecursionlimit(10000)
for v in sorted(edges):
    if v not in index:
        visit(v)

if not sccs:
    print(f"no import circle among {len(files)} files")
    sys.exit(0)
for comp in sccs:
    names = sorted(files[m] for m in comp)
    print("circle: " + " <-> ".join(names))
sys.exit(1)
