"""Builds brain_plasma: the Python package in python/ and its C extension
brain_plasma._core, compiled together with the libbrain sources in src/."""
import glob
import os
import sys

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def compiler_flags():
    """The flags of compiler-flags.txt, which the Makefile reads too: the
    extension compiles src/*.c with the library's own flags and warnings."""
    with open(os.path.join(HERE, "compiler-flags.txt")) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]


def platform():
    """The platform layer (the Makefile's PLATFORM): BRAIN_PLATFORM=linux or
    posix; by default linux on Linux and posix elsewhere (macOS)."""
    p = os.environ.get("BRAIN_PLATFORM") or ("linux" if sys.platform.startswith("linux") else "posix")
    if p not in ("linux", "posix"):
        raise SystemExit(f"BRAIN_PLATFORM={p!r}: the platform layers are 'linux' and 'posix'")
    return p


PLATFORM = platform()


def rel(*parts):
    return os.path.join(*parts)


core = Extension(
    "brain_plasma._core",
    sources=sorted(os.path.relpath(p, HERE)
                   for p in glob.glob(os.path.join(HERE, "src", "*.c"))
                   if not os.path.basename(p).startswith("platform_"))
    + [rel("src", f"platform_{PLATFORM}.c")]
    + [rel("python", "brain_plasma", "_core.c"),
       rel("python", "brain_plasma", "_strcol.c")],
    include_dirs=[rel("include"), rel("src")],
    define_macros=[("BRAIN_STATIC", "1")],
    extra_compile_args=compiler_flags() + ["-O2"],
    libraries=["pthread"],
    depends=[rel("compiler-flags.txt")]
    + glob.glob(os.path.join(HERE, "include", "*.h"))
    + glob.glob(os.path.join(HERE, "python", "brain_plasma", "*.h"))
    + glob.glob(os.path.join(HERE, "src", "*.h")),
)

# setuptools' own build folders go under build/python (build/python-posix
# for the other layer, so that switching layers rebuilds), beside make's
setup(ext_modules=[core], options={"build": {"build_base": rel(
    "build", "python" if PLATFORM == "linux" else f"python-{PLATFORM}")}})
