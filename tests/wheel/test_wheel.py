"""What a pip user gets (`make test-wheel`): the files `make wheel` wrote to
$BRAIN_DIST (default build/dist), checked as published files, then the wheel
installed into a fresh virtual environment in a temporary folder outside the
source tree and used there: the seed's Basic Usage across two processes,
`brain ls` / `brain stats` on that store, and the whole CLI suite
(tests/cli) against the installed `brain` console script.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import uuid
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIST = Path(os.environ.get("BRAIN_DIST") or ROOT / "build" / "dist")
PIP = ["-m", "pip", "install", "-q", "--disable-pip-version-check"]


def header_version():
    m = re.search(r'#define BRAIN_VERSION_STRING "([^"]+)"',
                  (ROOT / "include" / "brain.h").read_text())
    return m.group(1)


def one(pattern):
    found = sorted(DIST.glob(pattern))
    if len(found) != 1:
        pytest.fail("expected one %s in %s, found %s: run `make wheel`"
                    % (pattern, DIST, [p.name for p in found]))
    return found[0]


@pytest.fixture(scope="module")
def wheel():
    return one("*.whl")


@pytest.fixture(scope="module")
def sdist():
    return one("*.tar.gz")


def run(cmd, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=kw.pop("timeout", 600), **kw)
    p.out = p.stdout.decode("utf-8", "replace")
    p.err = p.stderr.decode("utf-8", "replace")
    return p


def ok(cmd, **kw):
    p = run(cmd, **kw)
    assert p.returncode == 0, "%s: rc %d\n%s\n%s" % (cmd, p.returncode, p.out[-3000:], p.err[-3000:])
    return p


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel):
    """A fresh venv outside the source tree with the wheel (and pandas, for
    the Basic Usage) installed; yields (its bin folder, a work folder)."""
    base = tmp_path_factory.mktemp("wheel-venv")
    assert ROOT not in base.parents
    interp = getattr(sys, "_base_executable", None) or shutil.which("python3")
    ok([interp, "-m", "venv", base / "venv"])
    bindir = base / "venv" / "bin"
    ok([bindir / "python"] + PIP + ["%s[pandas]" % wheel])
    work = base / "work"
    work.mkdir()
    return bindir, work


# ---- the files themselves ------------------------------------------------------

# the platform tag make wheel gives: auditwheel's manylinux, delocate's macosx
PLATFORM_TAG = (r"macosx_\d+_\d+_(arm64|x86_64)" if sys.platform == "darwin"
                else r"manylinux_2_\d+_x86_64")


def test_wheel_is_manylinux_and_carries_only_what_runs(wheel):
    v = header_version()
    assert re.fullmatch(r"brain_plasma-%s-cp3\d+-cp3\d+-%s\.whl"
                        % (re.escape(v), PLATFORM_TAG), wheel.name), wheel.name
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        info = {i.filename: i for i in z.infolist()}
        meta = z.read("brain_plasma-%s.dist-info/METADATA" % v).decode()
        entry = z.read("brain_plasma-%s.dist-info/entry_points.txt" % v).decode()
    assert not [n for n in names if n.endswith((".c", ".h"))], names
    pkg = sorted(n for n in names if n.startswith("brain_plasma/") and not n.endswith("/"))
    allowed = re.compile(r"brain_plasma/((contrib/)?[\w]+\.pyi?|py\.typed|_core\.[\w-]+\.so|_bin/brain)$")
    assert all(allowed.match(n) for n in pkg), pkg
    exe = info["brain_plasma/_bin/brain"]
    assert (exe.external_attr >> 16) & 0o111 == 0o111, "the program must be executable"
    assert "brain_plasma-%s.dist-info/licenses/LICENSE" % v in names
    assert "brain = brain_plasma._cli:main" in entry
    assert "plasma_store = brain_plasma.plasma_store:main" in entry
    assert "\nVersion: %s\n" % v in meta
    assert "\nLicense-Expression: MIT\n" in meta
    assert "\nRequires-Python: >=3.10\n" in meta
    assert "Classifier: Operating System :: POSIX :: Linux" in meta
    assert re.search(r"\nProject-URL: Source, https://", meta)
    assert "Description-Content-Type: text/markdown" in meta


def test_readme_links_work_on_a_package_page():
    """The README is the package page: every link and image is absolute."""
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)", text) + re.findall(r'src="([^"]+)"', text)
    assert targets
    relative = [t for t in targets if not re.match(r"(https?://|#|mailto:)", t)]
    assert relative == []
    # links into this repository name files that exist
    base = re.compile(r"https://(?:github\.com/russellromney/brain-plasma/blob/main|"
                      r"raw\.githubusercontent\.com/russellromney/brain-plasma/main)/([^#]+)")
    ours = [m.group(1) for m in map(base.match, targets) if m]
    assert ours and [p for p in ours if not (ROOT / p).exists()] == []


def test_sdist_carries_everything_the_build_needs(sdist):
    v = header_version()
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    want = {"LICENSE", "MANIFEST.in", "README.md", "setup.py", "pyproject.toml",
            "include/brain.h", "cli/cli.h", "python/brain_plasma/_core.c",
            "python/brain_plasma/_cli.py", "python/brain_plasma/__main__.py"}
    want |= {str(p.relative_to(ROOT)) for d in ("cli", "src") for p in (ROOT / d).glob("*.[ch]")}
    assert want <= names, sorted(want - names)
    assert sdist.name == "brain_plasma-%s.tar.gz" % v


def test_building_from_a_source_folder_writes_only_what_pip_does(sdist, venv, tmp_path):
    """pip wheel on an unpacked sdist: the folder gains setuptools' build/
    and *.egg-info folders and nothing else (no _bin/, no .so, no
    generated version file)."""
    bindir, _ = venv
    with tarfile.open(sdist) as t:
        t.extractall(tmp_path, filter="data")
    src = tmp_path / sdist.name[: -len(".tar.gz")]

    def files():
        return {str(p.relative_to(src)) for p in src.rglob("*")}

    before = files()
    ok([bindir / "python", "-m", "pip", "wheel", "-q", "--no-deps",
        "--disable-pip-version-check", "-w", tmp_path / "out", src])
    new = files() - before
    stray = [n for n in new if n.split("/")[0] != "build"
             and not any(part.endswith(".egg-info") for part in n.split("/"))]
    assert stray == [], stray
    assert list((tmp_path / "out").glob("brain_plasma-*.whl"))


# ---- the installed package -------------------------------------------------------

def test_one_version_in_the_installed_package(venv, wheel):
    bindir, work = venv
    v = header_version()
    assert ok([bindir / "brain", "--version"], cwd=work).out == "brain %s\n" % v
    assert ok([bindir / "python", "-m", "brain_plasma", "--version"], cwd=work).out == "brain %s\n" % v
    code = ("import importlib.metadata as m, brain_plasma as b; "
            "print(b.__version__, m.version('brain-plasma'), b.__file__)")
    pv, mv, where = ok([bindir / "python", "-c", code], cwd=work).out.split()
    assert pv == mv == v
    assert str(bindir.parent) in where, "imported from the venv, not the source tree"


LEARN = textwrap.dedent("""
    import sys
    import pandas as pd
    from brain_plasma import Brain
    brain = Brain(path=sys.argv[1], start_process=True)

    this = 'a text object'
    that = [1,2,3,4]
    those = pd.DataFrame(dict(this=[1,2,3,4],that=[4,5,6,7]))

    brain['that'] = that # recommended
    brain.learn(this,'this') # underlying API
    brain.learn(those,'those')
""")

RECALL = textwrap.dedent("""
    import sys
    import pandas as pd
    from brain_plasma import Brain, BrainNameNotExistError
    brain = Brain(path=sys.argv[1], start_process=False)
    assert brain['this'] == 'a text object'
    assert brain.recall('that') == [1,2,3,4]
    those = brain.recall('those')
    assert type(those) is pd.DataFrame
    pd.testing.assert_frame_equal(those, pd.DataFrame(dict(this=[1,2,3,4],that=[4,5,6,7])))
    those.loc[those['this'] > 2, 'that'] = 0   # a callback's write: a private copy
    assert brain.recall('those')['that'].tolist() == [4,5,6,7]
    brain.forget('this')
    try:
        brain.recall('this')
        raise SystemExit('recall of a forgotten name did not raise')
    except BrainNameNotExistError:
        pass
    assert sorted(brain.names()) == ['that', 'those'], brain.names()
    print('recalled')
""")


def test_basic_usage_across_two_processes_then_brain_ls_and_stats(venv):
    bindir, work = venv
    # the wheel's own idea of where bare names live (/dev/shm, $TMPDIR on macOS)
    store = ok([bindir / "python", "-c", "import sys; from brain_plasma import _core; "
                "print(_core.resolve(sys.argv[1]))",
                "wheeltest-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])], cwd=work).out.strip()
    (work / "learn.py").write_text(LEARN)
    (work / "recall.py").write_text(RECALL)
    try:
        ok([bindir / "python", "learn.py", store], cwd=work)
        assert ok([bindir / "python", "recall.py", store], cwd=work).out == "recalled\n"
        ls = ok([bindir / "brain", "ls", store], cwd=work).out
        assert re.search(r"^that\b", ls, re.M) and re.search(r"^those\b", ls, re.M), ls
        assert "this" not in ls.replace("those", "")
        listed = json.loads(ok([bindir / "brain", "ls", store, "--json"], cwd=work).out)
        assert sorted(e["name"] for e in listed) == ["that", "those"]
        stats = ok([bindir / "brain", "stats", store], cwd=work).out
        assert re.search(r"capacity", stats) and re.search(r"default\s+2\b", stats), stats
        st = json.loads(ok([bindir / "brain", "stats", store, "--json"], cwd=work).out)
        assert st["names"] == 2
        ok([bindir / "brain", "destroy", store], cwd=work)
        assert not os.path.exists(store)
    finally:
        if os.path.exists(store):
            os.unlink(store)


def test_cli_suite_against_the_installed_console_script(venv):
    """tests/cli, every test, with BRAIN_CLI the wheel's `brain`."""
    bindir, _ = venv
    env = dict(os.environ, BRAIN_CLI=str(bindir / "brain"))
    p = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             ROOT / "tests" / "cli"], env=env, cwd=ROOT, timeout=1200)
    assert p.returncode == 0, p.out[-6000:] + p.err[-3000:]
    assert re.search(r"\d+ passed", p.out)
