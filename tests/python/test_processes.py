"""Several processes and threads on one store: separate interpreters, fork
children (gunicorn --preload), and threads sharing one Brain."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from brain_plasma import Brain
from conftest import STORE_DIR, run_python



def test_readme_basic_usage_across_two_processes(store_name):
    learner = """
        import sys
        import pandas as pd
        from brain_plasma import Brain
        brain = Brain(path=sys.argv[1], start_process=True)
        this = 'a text object'
        that = [1, 2, 3, 4]
        those = pd.DataFrame(dict(this=[1, 2, 3, 4], that=[4, 5, 6, 7]))
        brain['that'] = that
        brain.learn(this, 'this')
        brain.learn(those, 'those')
        brain.sleep()
    """
    recaller = """
        import sys
        import pandas as pd
        from brain_plasma import Brain, BrainNameNotExistError
        brain = Brain(path=sys.argv[1], start_process=False)
        print(repr(brain['this']))
        print(brain.recall('that'))
        print(type(brain.recall('those')).__name__)
        print(brain.recall('those')['that'].tolist())
        brain.forget('this')
        try:
            brain.recall('this')
        except BrainNameNotExistError:
            print('forgotten')
        print(brain.names())
    """
    run_python(learner, store_name)
    out = run_python(recaller, store_name).splitlines()
    assert out == [
        "'a text object'",
        "[1, 2, 3, 4]",
        "DataFrame",
        "[4, 5, 6, 7]",
        "forgotten",
        "['that', 'those']",
    ]


def test_default_store_shared_without_configuration():
    code = """
        import sys
        from brain_plasma import Brain
        b = Brain()
        if sys.argv[1] == 'put':
            b.learn('from another process', sys.argv[2])
        else:
            print(b.recall(sys.argv[2])); b.forget(sys.argv[2])
    """
    name = "pytest-default-%d" % os.getpid()
    existed = os.path.exists(STORE_DIR + "/brain-default")
    try:
        run_python(code, "put", name)
        assert run_python(code, "get", name).strip() == "from another process"
    finally:
        if not existed:  # leave a user's own default store alone
            Brain().dead(i_am_sure=True)


def _wait_child(pid):
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), status
    return os.WEXITSTATUS(status)


def test_fork_children_use_inherited_brain(brain):
    brain["base"] = np.arange(100_000)
    inherited = brain["base"]  # a view pinned before fork
    pids = []
    for i in range(4):
        pid = os.fork()
        if pid == 0:  # child: must not run pytest's cleanup
            code = 1
            try:
                assert inherited[-1] == 99_999
                assert brain["base"][10] == 10
                brain["child%d" % i] = {"pid": os.getpid(), "i": i}
                brain["arr%d" % i] = np.full(10_000, i)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    assert [_wait_child(p) for p in pids] == [0, 0, 0, 0]
    for i in range(4):
        assert brain["child%d" % i]["i"] == i
        assert brain["arr%d" % i].sum() == 10_000 * i
    assert inherited[-1] == 99_999
    brain._c().reap()
    assert brain.check() == []


def test_fork_child_waits_for_parent(brain):
    brain["signal"] = 0
    v0 = brain.version("signal")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            v = brain.wait("signal", timeout=10, after_version=v0)
            code = 0 if brain["signal"] == 1 and v > v0 else 2
        finally:
            os._exit(code)
    brain["signal"] = 1
    assert _wait_child(pid) == 0


def test_threads_share_one_brain(brain):
    errors = []

    def work(t):
        try:
            for j in range(200):
                name = "t%d-%d" % (t, j % 10)
                value = {"t": t, "j": j, "a": np.arange(j % 50)}
                brain[name] = value
                got = brain[name]
                assert got["t"] == t and got["j"] == j
                assert list(got["a"]) == list(range(j % 50))
                brain.recall("shared")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    brain["shared"] = np.arange(200_000)
    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(brain) == 81
    assert brain.check() == []


def test_processes_hammer_one_name(store_name):
    code = """
        import sys
        import numpy as np
        from brain_plasma import Brain
        b = Brain(path=sys.argv[1])
        me = int(sys.argv[2])
        for i in range(300):
            b['hot'] = np.full(1000 + me, me)
            a = b['hot']
            assert (a == a[0]).all() and len(a) == 1000 + a[0], 'torn read'
        print('ok')
    """
    Brain(path=store_name, size=16_000_000)
    procs = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), store_name, str(i)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0 and out.strip() == "ok", err


def test_recall_of_a_class_this_process_lacks(store_name, brain):
    code = """
        import sys
        from brain_plasma import Brain

        class OnlyHere:
            pass

        Brain(path=sys.argv[1])["obj"] = OnlyHere()
    """
    run_python(code, store_name)
    from brain_plasma import BrainSerializationError

    with pytest.raises(BrainSerializationError) as ei:
        brain["obj"]
    msg = str(ei.value)
    assert "'obj'" in msg and "OnlyHere" in msg and "Import" in msg
    assert brain.info("obj")["type_name"] == "pickle"  # still stored
