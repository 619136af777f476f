"""Builds brain_plasma: the Python package in python/, its C extension
brain_plasma._core (compiled together with the libbrain sources in src/), and
the `brain` command: cli/*.c linked with src/*.c into the executable
brain_plasma/_bin/brain, the same program `make cli` builds as build/brain.
The console script `brain` (brain_plasma._cli) execs it.

The version is defined once, in include/brain.h (BRAIN_VERSION_STRING): the
metadata reads it here, the CLI prints it, brain_plasma.__version__ is the
extension's copy of it.

Everything the build writes goes under build/python (setuptools' build
folders) and the *.egg-info folder setuptools itself writes; an editable
install (pip install -e .) also puts the extension and _bin/brain beside the
sources in python/brain_plasma/, as it does for any extension."""
import glob
import os
import re
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

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


def sources(pattern):
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, pattern)))


def version():
    with open(os.path.join(HERE, "include", "brain.h"), encoding="utf-8") as f:
        m = re.search(r'^#define BRAIN_VERSION_STRING "([^"]+)"', f.read(), re.M)
    if not m:
        raise RuntimeError("include/brain.h defines no BRAIN_VERSION_STRING")
    return m.group(1)


# libbrain: src/*.c with one platform layer (BRAIN_PLATFORM)
LIB_SOURCES = [p for p in sources(rel("src", "*.c"))
               if not os.path.basename(p).startswith("platform_")] + [
    rel("src", f"platform_{PLATFORM}.c")]

HEADERS = (glob.glob(os.path.join(HERE, "include", "*.h"))
           + glob.glob(os.path.join(HERE, "src", "*.h")))

core = Extension(
    "brain_plasma._core",
    sources=LIB_SOURCES
    + [rel("python", "brain_plasma", "_core.c"),
       rel("python", "brain_plasma", "_strcol.c")],
    include_dirs=[rel("include"), rel("src")],
    define_macros=[("BRAIN_STATIC", "1")],
    extra_compile_args=compiler_flags() + ["-O2"],
    libraries=["pthread"],
    depends=[rel("compiler-flags.txt")] + HEADERS
    + glob.glob(os.path.join(HERE, "python", "brain_plasma", "*.h")),
)

# the CLI as the Makefile builds build/brain: the same sources and flags
# (compiler-flags.txt)
CLI_SOURCES = sources(rel("cli", "*.c")) + LIB_SOURCES
CLI_DEPENDS = ([rel("compiler-flags.txt")] + HEADERS
               + glob.glob(os.path.join(HERE, "cli", "*.h")))


class build_ext_and_cli(build_ext):
    """build_ext, then the `brain` executable: built into build_lib's
    brain_plasma/_bin/, and copied beside the sources when in place (as
    build_ext does with the extension)."""

    def _cli_built(self):
        return os.path.join(self.build_lib, "brain_plasma", "_bin", "brain")

    def _cli_inplace(self):
        pkg = self.get_finalized_command("build_py").get_package_dir("brain_plasma")
        return os.path.join(pkg, "_bin", "brain")

    def run(self):
        super().run()
        self.build_cli()
        if self.inplace:
            self.mkpath(os.path.dirname(self._cli_inplace()))
            self.copy_file(self._cli_built(), self._cli_inplace(), level=self.verbose)

    def build_cli(self):
        out = self._cli_built()
        if not self.force and os.path.exists(out) and all(
                os.path.getmtime(p) <= os.path.getmtime(out) for p in CLI_SOURCES + CLI_DEPENDS):
            return
        objs = self.compiler.compile(
            CLI_SOURCES,
            output_dir=os.path.join(self.build_temp, "cli-objs"),
            include_dirs=[rel("include"), rel("src")],
            # the portable layer's CLI polls for signals as on macOS (the
            # Makefile's CLI_DEFS)
            macros=[("BRAIN_CLI_POLL_SIGNALS", "1")] if PLATFORM == "posix" else [],
            extra_postargs=compiler_flags() + ["-O2"],
            depends=CLI_DEPENDS,
        )
        self.mkpath(os.path.dirname(out))
        self.compiler.link_executable(
            objs, os.path.basename(out), output_dir=os.path.dirname(out),
            libraries=["pthread"])

    def _get_output_mapping(self):
        yield from super()._get_output_mapping()
        if self.inplace:
            yield (self._cli_built(), self._cli_inplace())

    def get_outputs(self):
        outs = super().get_outputs()
        return outs if self.inplace else sorted(outs + [self._cli_built()])


# setuptools' own build folders go under build/python (build/python-posix
# for the other layer, so that switching layers rebuilds), beside make's
setup(
    version=version(),
    ext_modules=[core],
    cmdclass={"build_ext": build_ext_and_cli},
    options={"build": {"build_base": rel(
        "build", "python" if PLATFORM == "linux" else f"python-{PLATFORM}")}},
)
