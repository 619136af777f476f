"""brain_plasma: named shared-memory objects for every process on one machine.

    from brain_plasma import Brain
    brain = Brain()                 # the default store, /dev/shm/brain-default
    brain["frame"] = df             # any process of the user ...
    brain["frame"]                  # ... reads it back, zero-copy

A daemonless C store (libbrain) with the brain-plasma API on top; see
:class:`Brain`.  Values are pickled (protocol 5, out-of-band buffers), except
bytes, str and NumPy arrays, which use plain layouts.  Unpickling runs code:
anyone who can write a store can run code in the processes that read it.
"""
import logging as _logging

from . import _core
from .exceptions import *  # noqa: F401,F403
from .exceptions import __all__ as _exc_all
from .brain import Brain, DEFAULT_NAMESPACE, DEFAULT_STORE
from . import plasma  # pyarrow.plasma's client API (docs/migration.md)

__version__ = _core.LIB_VERSION  # defined once: BRAIN_VERSION_STRING in include/brain.h

__all__ = ["Brain", "DEFAULT_STORE", "DEFAULT_NAMESPACE", "plasma", "__version__"] + list(_exc_all)

_logging.getLogger("brain_plasma").addHandler(_logging.NullHandler())
