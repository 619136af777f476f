#!/usr/bin/env python3
"""check-layers: libbrain's files call only down (docs/DESIGN-NOTES.md).

Each src/*.c file has a layer in LAYERS below.  The calls are read from the
compiled objects, not guessed from the sources: for every object X, each
undefined symbol of X (`nm`, type U) that another object Y of the library
defines is an edge X -> Y.  The check fails when

  - a src/*.c file has no layer here (a new file must be placed),
  - an edge goes to a higher layer, or
  - the files form a cycle (within one layer, too): every concern can be
    changed and tested with only what is below it.

    python3 scripts/check-layers.py [OBJDIR] [--src SRCDIR]
    python3 scripts/check-layers.py --self-test [OBJDIR]

--self-test proves that the check can fail: it recompiles alloc.c with an
injected call to brain_delete (the write layer) into a temporary folder,
beside copies of the other objects, and expects the check to refuse it,
naming the edge (and a call from store.c up into check.c); then index.c
and namespace.c, one layer, made to call each other must be refused as a
cycle.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

# lowest first; a file may call files of its own layer or below
LAYERS = [
    ("base", ["platform", "platform_linux", "platform_posix", "error"]),
    ("values", ["name", "hash", "layout", "size", "key"]),
    ("alloc", ["alloc"]),
    ("process table", ["proctable"]),
    ("reclaim", ["reclaim"]),
    ("index", ["index", "namespace"]),
    ("repair", ["repair"]),
    ("store", ["store"]),
    ("operations", ["read", "write", "list", "wait", "resize"]),
    ("maintenance", ["check", "snapshot"]),
]
LAYER_OF = {f: i for i, (_, files) in enumerate(LAYERS) for f in files}


def symbols(obj):
    out = subprocess.run(["nm", obj], check=True, capture_output=True,
                         text=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBRCVW":
            defined.add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
    return defined, undefined


def edges(objdir, srcdir):
    """The objects of the src/*.c files (a stale object of a removed file is
    not in the library, so not here) and the calls between them."""
    objs = sorted(os.path.join(objdir, os.path.basename(p)[:-2] + ".o")
                  for p in glob.glob(os.path.join(srcdir, "*.c")))
    # one platform layer is built (Makefile PLATFORM): the other's object is absent
    plats = [o for o in objs if os.path.basename(o).startswith("platform_")]
    if plats and not any(os.path.exists(o) for o in plats):
        raise SystemExit(f"check-layers: no platform object ({', '.join(plats)}) in {objdir}; "
                         "build the library first")
    objs = [o for o in objs if o not in plats or os.path.exists(o)]
    missing = [o for o in objs if not os.path.exists(o)]
    if missing:
        raise SystemExit(f"check-layers: {', '.join(missing)} missing; build the library first")
    if not objs:
        raise SystemExit(f"check-layers: no objects in {objdir}; build the library first")
    defs, undef = {}, {}
    for o in objs:
        name = os.path.basename(o)[:-2]
        d, u = symbols(o)
        undef[name] = u
        for s in d:
            defs[s] = name
    out = {}
    for name, u in undef.items():
        for s in sorted(u):
            to = defs.get(s)
            if to and to != name:
                out.setdefault((name, to), []).append(s)
    return sorted(undef), out


def cycles(nodes, edge_set):
    """Strongly connected components of more than one file (Tarjan)."""
    adj = {n: [b for (a, b) in edge_set if a == n] for n in nodes}
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in adj[v]:
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
                comps.append(sorted(comp))

    for n in nodes:
        if n not in index:
            visit(n)
    return comps


def check(objdir, srcdir):
    problems = []
    srcs = sorted(os.path.basename(p)[:-2] for p in glob.glob(os.path.join(srcdir, "*.c")))
    for s in srcs:
        if s not in LAYER_OF:
            problems.append(f"src/{s}.c has no layer in scripts/check-layers.py")
    nodes, es = edges(objdir, srcdir)
    for n in nodes:
        if n not in LAYER_OF:
            problems.append(f"object {n}.o has no layer in scripts/check-layers.py")
    for (a, b), syms in sorted(es.items()):
        if a in LAYER_OF and b in LAYER_OF and LAYER_OF[b] > LAYER_OF[a]:
            problems.append(
                f"{a}.c ({LAYERS[LAYER_OF[a]][0]}) calls up into {b}.c "
                f"({LAYERS[LAYER_OF[b]][0]}): {', '.join(syms)}")
    for comp in cycles(nodes, set(es)):
        problems.append("files call each other in a cycle: " + " <-> ".join(f"{c}.c" for c in comp))
    return problems, es


def self_test(objdir):
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    cc = os.environ.get("CC", "cc")
    flags = ["-std=gnu11", "-c", "-I" + os.path.join(src, "include"),
             "-I" + os.path.join(src, "src"), "-D_GNU_SOURCE"]
    injections = [
        ("alloc", "void brain__layers_probe(brain *b);\n"
                  "void brain__layers_probe(brain *b) { brain_delete(b, \"\", \"x\"); }\n",
         "alloc.c (alloc) calls up into write.c (operations): brain_delete"),
        ("store", "void brain__layers_probe2(void);\n"
                  "void brain__layers_probe2(void) { brain_check(0, 0, 0); }\n",
         "store.c (store) calls up into check.c (maintenance): brain_check"),
    ]
    failed = 0
    for target, code, expect in injections:
        with tempfile.TemporaryDirectory() as tmp:
            for o in glob.glob(os.path.join(objdir, "*.o")):
                shutil.copy(o, tmp)
            probe = os.path.join(tmp, target + ".c")
            with open(os.path.join(src, "src", target + ".c")) as f:
                text = f.read()
            with open(probe, "w") as f:
                f.write(text + "\n" + code)
            subprocess.run([cc, *flags, "-o", os.path.join(tmp, target + ".o"), probe],
                           check=True)
            os.unlink(probe)
            problems, _ = check(tmp, os.path.join(src, "src"))
            if not any(expect in p for p in problems):
                print(f"check-layers self-test: a call injected into {target}.c was not "
                      f"refused (expected: {expect}); got: {problems}", file=sys.stderr)
                failed = 1
    # a cycle within one layer: index.c and namespace.c made to call each other
    with tempfile.TemporaryDirectory() as tmp:
        for o in glob.glob(os.path.join(objdir, "*.o")):
            shutil.copy(o, tmp)
        for target, code in [
            ("namespace", "int brain__layers_probe3(brain *b);\n"
                          "int brain__layers_probe3(brain *b) { return brain__index_maybe_grow(b); }\n"),
            ("index", "int brain__layers_probe4(brain *b);\n"
                      "int brain__layers_probe4(brain *b) { return brain__ns_find(b, \"\", 0); }\n"),
        ]:
            probe = os.path.join(tmp, target + ".c")
            with open(os.path.join(src, "src", target + ".c")) as f:
                text = f.read()
            with open(probe, "w") as f:
                f.write(text + "\n" + code)
            subprocess.run([cc, *flags, "-o", os.path.join(tmp, target + ".o"), probe],
                           check=True)
            os.unlink(probe)
        problems, _ = check(tmp, os.path.join(src, "src"))
        if not any("cycle" in p and "index.c" in p and "namespace.c" in p for p in problems):
            print(f"check-layers self-test: the cycle index.c <-> namespace.c was not refused; "
                  f"got: {problems}", file=sys.stderr)
            failed = 1
    if not failed:
        print("check-layers self-test: injected upward calls and a cycle are refused")
    return failed


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    srcdir = "src"
    if "--src" in argv:
        srcdir = argv[argv.index("--src") + 1]
        args.remove(srcdir)
    objdir = args[0] if args else "build/obj"
    if "--self-test" in argv:
        return self_test(objdir)
    problems, es = check(objdir, srcdir)
    if problems:
        for p in problems:
            print("check-layers: " + p, file=sys.stderr)
        return 1
    print(f"check-layers: {len(es)} calls between {len(LAYER_OF)} files, all downward, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
