"""The exception tree of brain_plasma.

Every failure of the store raises a subclass of :class:`BrainError`.  Each
libbrain status code (``BRAIN_E*``) maps to one class here; the C core raises
it with the library's sentence about the failure (what was asked, what was
found, what to do) and sets ``.code`` (the status) and ``.errname``
(``"BRAIN_ENOTFOUND"``).  The class names of the original brain-plasma
(``BrainNameNotExistError``, ``BrainNamespaceNameError``, ...) exist and mean
what they meant there.
"""
from . import _core

__all__ = [
    "BrainError",
    "BrainNameError",
    "BrainNameNotExistError",
    "BrainNameTypeError",
    "BrainNameLengthError",
    "BrainNamespaceNameError",
    "BrainNamespaceNotExistError",
    "BrainNamespaceRemoveDefaultError",
    "BrainClientDisconnectedError",
    "BrainStoreError",
    "BrainStoreNotFoundError",
    "BrainStoreExistsError",
    "BrainStoreAccessError",
    "BrainStoreFullError",
    "BrainCorruptError",
    "BrainSerializationError",
    "BrainVersionConflictError",
    "BrainValueTypeError",
    "BrainTimeoutError",
    "BrainLimitError",
    "BrainBusyError",
    "BrainValueError",
    "BrainIOError",
    "BrainSnapshotError",
    "BrainOptionError",
    "BrainLearnNameError",
    "BrainUpdateNameError",
    "BrainRemoveOldNameValueError",
    "PlasmaObjectExists",
    "PlasmaObjectNonexistent",
    "PlasmaStoreFull",
    "BrainConnectionError",
    "BrainStoreDestroyedError",
    "BrainDiskFullError",
    "BrainLockTimeoutError",
]


class BrainError(_core.Error):
    """Base class of every brain_plasma error.

    ``code`` is the libbrain status (a negative int) when the error came from
    the store, else None; ``errname`` its symbolic name."""

    code = None
    errname = None


class BrainValueError(BrainError, ValueError):
    """An argument the store refuses (a bad size, flag or description)."""


class BrainNameError(BrainError, ValueError):
    """A name the store refuses: empty, not UTF-8, or with control characters."""


class BrainNameNotExistError(BrainError, KeyError):
    """The name holds no value (never stored, forgotten, or expired)."""

    def __str__(self):  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else ""


class BrainNameTypeError(BrainNameError, TypeError):
    """A name that is not a str."""


class BrainNameLengthError(BrainNameError):
    """A name that is empty or longer than the store allows."""


class BrainNamespaceNameError(BrainError, ValueError):
    """A namespace name the store refuses (type, length or characters)."""


class BrainNamespaceNotExistError(BrainError, KeyError):
    """The namespace holds no names."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class BrainNamespaceRemoveDefaultError(BrainError):
    """The "default" namespace cannot be removed."""


class BrainClientDisconnectedError(BrainError):
    """The Brain was put to sleep() or its store destroyed; wake_up() first."""


class BrainStoreError(BrainError):
    """A problem with the store file itself."""


class BrainStoreNotFoundError(BrainStoreError, FileNotFoundError):
    """The store does not exist (start_process=False, wake_up, or dead)."""


class BrainStoreExistsError(BrainStoreError, FileExistsError):
    """The store exists and was asked to be created exclusively."""


class BrainStoreAccessError(BrainStoreError, PermissionError):
    """The store is owned by another user, not accessible, or a symlink."""


class BrainCorruptError(BrainStoreError):
    """The file is not a store, has another layout version, is truncated or
    corrupted, or a value's layout is malformed."""


class BrainStoreFullError(BrainStoreError):
    """The value does not fit: the store is full, larger than the store's
    capacity, or the host has no memory left for it.  Nothing stored
    changed."""


class BrainSerializationError(BrainError, TypeError):
    """The value cannot be serialised (pickled); nothing stored changed."""


class BrainVersionConflictError(BrainError):
    """learn(..., if_version=v) found another version."""


class BrainValueTypeError(BrainError, TypeError):
    """A value whose type tag or layout does not match what it holds (a str
    that is not UTF-8, an array of an unsupported dtype, a malformed
    layout)."""


class BrainTimeoutError(BrainError, TimeoutError):
    """wait() timed out."""


class BrainLimitError(BrainError):
    """A table of the store or of this process is full (pins, processes,
    namespaces)."""


class BrainBusyError(BrainError):
    """Values in use (pinned by views) prevent the operation."""


class BrainIOError(BrainError, OSError):
    """A system call failed."""


class BrainSnapshotError(BrainError):
    """A snapshot file is missing, damaged, truncated or of another format;
    the store was not changed."""


class BrainOptionError(BrainValueError, TypeError):
    """An option given a value it does not take (``metadata(output="set")``);
    a TypeError, as in brain-plasma 0.3, and a BrainValueError."""


# ---- brain-plasma 0.3.3's names -------------------------------------------
# 0.3.3 raised these from learn(); here a failed learn raises the error that
# says what went wrong (BrainStoreFullError, BrainSerializationError, ...),
# made an instance of BrainLearnNameError (the name was new) or
# BrainUpdateNameError (it had a value) as well, so 0.3.3's except clauses
# keep catching it.  Nothing stored changes when learn fails.

class BrainLearnNameError(BrainError):
    """learn() could not store the value (0.3.3's name); the name is as it
    was.  Failed learns raise a class that is also the specific error."""


class BrainUpdateNameError(BrainLearnNameError):
    """learn() could not replace the value of a name that had one; the old
    value stays."""


class BrainRemoveOldNameValueError(BrainError):
    """0.3.3 raised this when a replaced value could not be deleted.  Never
    raised here: replacing a value is one atomic step and the store frees
    the old one."""


# ---- pyarrow.plasma's names (brain_plasma.plasma) ---------------------------

class PlasmaObjectExists(BrainError):
    """An object with this ObjectID exists (objects are immutable)."""


class PlasmaObjectNonexistent(BrainNameNotExistError):
    """No object with this ObjectID (seal of an id this client did not create)."""


class PlasmaStoreFull(BrainStoreFullError):
    """The object does not fit in the store; nothing stored changed."""


_learn_classes = {}


def _learn_error_class(cls, updating):
    """A class that is CLS and BrainUpdateNameError (UPDATING) or
    BrainLearnNameError: what a failed learn raises."""
    mixin = BrainUpdateNameError if updating else BrainLearnNameError
    if issubclass(cls, mixin):
        return cls
    key = (cls, mixin)
    new = _learn_classes.get(key)
    if new is None:
        new = type(cls.__name__, (cls, mixin), {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
            # pickles (multiprocessing) as the specific error
            "__reduce__": lambda self, _c=cls: (_c, self.args, self.__dict__),
        })
        _learn_classes[key] = new
    return new


def as_learn_error(exc, updating):
    """EXC as an instance of its class that is also BrainLearnNameError /
    BrainUpdateNameError (its message, code and errname kept)."""
    new = _learn_error_class(type(exc), updating)(*exc.args)
    new.__dict__.update(exc.__dict__)
    new.code, new.errname = exc.code, exc.errname
    return new


class BrainConnectionError(BrainError, ConnectionError):
    """A Brain on Redis cannot reach its server (down, refused, timed out,
    wrong password); the message names the URL.  The Brain reconnects by
    itself on its next call once the server answers."""


class BrainStoreDestroyedError(BrainClientDisconnectedError):
    """The store was destroyed (by dead() or `brain destroy`, in this or
    another process) while this Brain had it open; its message names the pid
    that destroyed it.  Nothing was written.  Brain.start() makes a new
    store."""


class BrainDiskFullError(BrainIOError):
    """The file system holding a file being written (a snapshot) is full.
    The store itself is not full; nothing stored changed."""


class BrainLockTimeoutError(BrainTimeoutError):
    """The writers' lock stayed held by another process longer than the
    Brain's lock_timeout; the message names its pid and whether it is alive,
    stopped or gone.  Nothing changed."""


#: libbrain status -> exception class, registered with the C core.
CODE_TO_EXCEPTION = {
    _core.EINVAL: BrainValueError,
    _core.ENAME: BrainNameError,
    _core.ENAMESPACE: BrainNamespaceNameError,
    _core.ENOTFOUND: BrainNameNotExistError,
    _core.EEXIST: BrainStoreExistsError,
    _core.ENOSTORE: BrainStoreNotFoundError,
    _core.EPERM: BrainStoreAccessError,
    _core.ESYMLINK: BrainStoreAccessError,
    _core.ENOTSTORE: BrainCorruptError,
    _core.EVERSION: BrainCorruptError,
    _core.ECORRUPT: BrainCorruptError,
    _core.ETRUNCATED: BrainCorruptError,
    _core.EFULL: BrainStoreFullError,
    _core.ENOSPC: BrainStoreFullError,
    _core.ETOOBIG: BrainStoreFullError,
    _core.ECONFLICT: BrainVersionConflictError,
    _core.ETIMEDOUT: BrainTimeoutError,
    _core.EPINS: BrainLimitError,
    _core.EPROCS: BrainLimitError,
    _core.ENSFULL: BrainLimitError,
    _core.EBUSY: BrainBusyError,
    _core.ETYPE: BrainValueTypeError,
    _core.ENOMEM: BrainError,
    _core.EIO: BrainIOError,
    _core.ESTALE: BrainError,
    _core.ERANGE: BrainError,
    _core.ESNAPSHOT: BrainSnapshotError,
    _core.EDESTROYED: BrainStoreDestroyedError,
    _core.EDISKFULL: BrainDiskFullError,
    _core.ELOCKED: BrainLockTimeoutError,
    _core.ECANCELED: BrainError,
    _core.EWOULDBLOCK: BrainBusyError,
    _core.ECLOSED: BrainClientDisconnectedError,
    _core.ENAMETYPE: BrainNameTypeError,
    _core.ENAMELENGTH: BrainNameLengthError,
}

_core._set_exceptions(CODE_TO_EXCEPTION)
