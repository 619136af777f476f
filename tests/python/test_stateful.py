"""A hypothesis state machine that drives a Brain and a dict model through
the same operations (learn, recall, forget, learn_many, recall_many,
namespaces, resize, exists, names, len) and checks after every step that
they agree and that the store passes its own consistency check.

Bounded so it runs in about 30 s in `make test`; under CI=true (or
BRAIN_HYPOTHESIS_DERANDOMIZE=1) the examples are derandomized, so a CI run
is reproducible.  More examples: BRAIN_HYPOTHESIS_EXAMPLES=500."""
import os
import uuid

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine, initialize, invariant, precondition, rule)

from brain_plasma import Brain  # noqa: E402
from brain_plasma.exceptions import (  # noqa: E402
    BrainNameNotExistError, BrainNamespaceNotExistError,
    BrainNamespaceRemoveDefaultError, BrainStoreFullError)

MiB = 1 << 20
# the store's own tables (header, 128 process slots, namespace table, index)
TABLES = MiB + MiB // 4
SIZES = [2 * MiB, 3 * MiB, 4 * MiB, 8 * MiB]

NAMES = st.sampled_from(["a", "b", "c", "x/y", "n\u00e4me", "long-" + "z" * 200])
NAMESPACES = st.sampled_from(["default", "ns1", "ns2"])
VALUES = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=100),
    st.integers(),
    st.lists(st.integers(min_value=-1000, max_value=1000), max_size=8),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=4),
    st.none(),
)
# a few values large enough that resize to 2 MiB can fail
BIG = st.integers(min_value=300_000, max_value=900_000).map(lambda n: b"\x07" * n)


def _approx_size(v):
    return len(v) if isinstance(v, (bytes, str)) else 64


class BrainMachine(RuleBasedStateMachine):
    @initialize()
    def open_store(self):
        self.store = "pytest-hyp-%d-%s" % (os.getpid(), uuid.uuid4().hex[:10])
        self.capacity = 4 * MiB
        self.brain = Brain(path=self.store, size=self.capacity)
        self.model = {"default": {}}

    def teardown(self):
        b = getattr(self, "brain", None)
        if b is not None:
            # closes the process's handle now: a thousand examples must not
            # wait for the garbage collector to give back their mappings
            b.dead(i_am_sure=True)

    # ---- helpers ------------------------------------------------------------

    @property
    def ns(self):
        return self.brain.namespace

    def here(self):
        return self.model.setdefault(self.ns, {})

    def stored_bytes(self):
        return sum(_approx_size(v) for d in self.model.values() for v in d.values())

    # ---- rules ----------------------------------------------------------------

    def _store(self, call, sizes, apply):
        """Runs CALL (a learn of values of approximate SIZES); it must succeed
        while the store has room for the new bytes beside the ones they
        replace, with slack, unless the free space is there but split: the
        allocator does not move values, so small values left between holes
        can leave no single free block big enough (legitimate fragmentation,
        found by this machine: 892 kB free after a resize to 2 MiB, no block
        of 300 kB).  Then BrainStoreFullError is accepted only when the
        store's largest free block is smaller than what the new values need
        together; otherwise the allocator failed with room.  Nearer full it
        may fail with a clear BrainStoreFullError, and then nothing changes
        (the invariants check that)."""
        new_bytes = sum(sizes)
        must_fit = self.stored_bytes() + new_bytes < (self.capacity - TABLES) // 2
        try:
            call()
        except BrainStoreFullError as exc:
            assert "full" in str(exc), str(exc)
            if must_fit:
                # each value's block: its bytes plus the block and entry
                # headers (name, namespace, pickle framing): under 1 KiB
                need = sum(n + 1024 for n in sizes)
                largest = self.brain.stats()["largest_free"]
                assert largest < need, (
                    "learn of %r bytes failed with a free block of %d bytes: %s"
                    % (sizes, largest, exc))
        else:
            apply()

    @rule(name=NAMES, value=VALUES)
    def learn(self, name, value):
        self._store(lambda: self.brain.learn(value, name), [_approx_size(value)],
                    lambda: self.here().__setitem__(name, value))

    @rule(name=NAMES, value=BIG)
    def learn_big(self, name, value):
        self._store(lambda: self.brain.learn(value, name), [len(value)],
                    lambda: self.here().__setitem__(name, value))

    @rule(mapping=st.dictionaries(NAMES, VALUES, max_size=4))
    def learn_many(self, mapping):
        self._store(lambda: self.brain.learn_many(mapping),
                    [_approx_size(v) for v in mapping.values()],
                    lambda: self.here().update(mapping))

    @rule(name=NAMES)
    def recall(self, name):
        want = self.here().get(name, KeyError)
        if want is KeyError:
            with pytest.raises(BrainNameNotExistError, match="not found"):
                self.brain.recall(name)
        else:
            assert self.brain.recall(name) == want

    @rule(names=st.lists(NAMES, max_size=4, unique=True))
    def recall_many(self, names):
        here = self.here()
        if all(n in here for n in names):
            assert self.brain.recall_many(names) == {n: here[n] for n in names}
        else:
            with pytest.raises(BrainNameNotExistError):
                self.brain.recall_many(names)

    @rule(name=NAMES)
    def forget(self, name):
        if name in self.here():
            self.brain.forget(name)
            del self.here()[name]
        else:
            with pytest.raises(BrainNameNotExistError):
                self.brain.forget(name)

    @rule(ns=NAMESPACES)
    def set_namespace(self, ns):
        assert self.brain.set_namespace(ns) == ns

    @rule(ns=st.sampled_from(["ns1", "ns2", "never-used"]))
    def remove_namespace(self, ns):
        held = self.model.get(ns, {})
        if not held and ns != self.ns:
            with pytest.raises(BrainNamespaceNotExistError):
                self.brain.remove_namespace(ns)
            return
        was_current = ns == self.ns
        assert self.brain.remove_namespace(ns) == len(held)
        self.model.pop(ns, None)
        if was_current:
            assert self.ns == "default"

    @rule()
    def remove_default_namespace(self):
        with pytest.raises(BrainNamespaceRemoveDefaultError):
            self.brain.remove_namespace("default")

    @rule(size=st.sampled_from(SIZES))
    def resize(self, size):
        stored = self.stored_bytes()
        try:
            self.brain.resize(size)
        except BrainStoreFullError as exc:
            # only when what is stored (plus the store's own tables) is
            # close to the new size; nothing may be lost
            assert 2 * stored + TABLES > size, (stored, size, str(exc))
        else:
            assert stored + TABLES // 2 < size
            self.capacity = size
        assert self.brain.stats()["capacity"] == self.capacity

    # ---- invariants -----------------------------------------------------------

    @invariant()
    def agrees_with_model(self):
        if not hasattr(self, "brain"):
            return
        here = self.here()
        assert self.brain.names() == sorted(here)
        assert len(self.brain) == len(here)
        for name in ("a", "zz-absent"):
            assert self.brain.exists(name) == (name in here)
        everything = sorted("%s" % n for d in self.model.values() for n in d)
        assert self.brain.names("all") == sorted(everything)
        held = {ns for ns, d in self.model.items() if d}
        assert held | {"default", self.ns} == set(self.brain.namespaces())

    @invariant()
    def store_is_sound(self):
        if hasattr(self, "brain"):
            assert self.brain.check() == []


_ci = os.environ.get("CI") == "true" or os.environ.get("BRAIN_HYPOTHESIS_DERANDOMIZE") == "1"
BrainMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("BRAIN_HYPOTHESIS_EXAMPLES", "1000")),
    stateful_step_count=50,
    deadline=None,
    derandomize=_ci,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestBrainStateful = BrainMachine.TestCase


def test_fragmentation_is_reported_not_hidden(store_name):
    """The case the machine found, replayed: after a resize to 2 MiB, small
    values left between the holes of replaced 300 kB values split 892 kB of
    free space into blocks under 300 kB each.  The free blocks are coalesced
    (brain check passes: no two free blocks are adjacent), so this is
    fragmentation, not a leak: a 300,033-byte learn fails with
    BrainStoreFullError naming the largest free block, nothing changes, and
    the stats say why (largest_free below the need)."""
    brain = Brain(path=store_name, size=4 * MiB)
    try:
        brain.resize(2 * MiB)
        big = b"\x07" * 300_000
        # stats() between the steps as the machine ran them: it settles limbo,
        # which decides where the next small value lands
        brain.learn(b"x", "a")
        brain.stats()
        brain.learn(big, "b")
        brain.learn_many({"c": b"", "b": b""})
        brain.stats()
        brain.learn(b"x", "b")
        brain.stats()
        brain.learn(big, "b")
        brain.learn(b"x", "b")
        st = brain.stats()
        assert st["free"] > 850_000 and st["largest_free"] < 300_033 + 128
        assert brain.check() == []
        with pytest.raises(BrainStoreFullError, match="largest free block"):
            brain.learn(b"\x07" * 300_033, "d")
        assert brain.names() == ["a", "b", "c"] and brain["b"] == b"x"
    finally:
        brain.dead(i_am_sure=True)
