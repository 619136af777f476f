"""An array written by a C program (libbrain's brain_put_array) reads back
in Python as an ndarray, without pickle."""
import ctypes
import os

import numpy as np
import pytest

from brain_plasma import Brain, _core

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# the libbrain of the same platform layer as the extension (make sets
# BRAIN_BUILD: build, or build/posix for `make test PLATFORM=posix`)
LIB = os.path.join(os.environ.get("BRAIN_BUILD", os.path.join(ROOT, "build")), "libbrain.so")


class brain_array(ctypes.Structure):
    _fields_ = [
        ("dtype", ctypes.c_char * 16),
        ("ndim", ctypes.c_uint32),
        ("shape", ctypes.c_uint64 * _core.ARRAY_MAX_DIMS),
        ("itemsize", ctypes.c_uint64),
        ("nbytes", ctypes.c_uint64),
        ("data_offset", ctypes.c_uint64),
        ("data", ctypes.c_void_p),
    ]


@pytest.fixture
def libbrain():
    if not os.path.exists(LIB):
        pytest.skip("build/libbrain.so is not built (run make lib)")
    lib = ctypes.CDLL(LIB)
    lib.brain_open.argtypes = [ctypes.c_char_p, ctypes.c_uint, ctypes.c_void_p,
                               ctypes.POINTER(ctypes.c_void_p)]
    lib.brain_array_init.argtypes = [ctypes.POINTER(brain_array), ctypes.c_char_p,
                                     ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint64)]
    lib.brain_put_array.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                    ctypes.POINTER(brain_array), ctypes.c_void_p,
                                    ctypes.c_void_p, ctypes.c_void_p]
    lib.brain_close.argtypes = [ctypes.c_void_p]
    return lib


def test_array_put_from_c_reads_as_ndarray(libbrain, brain):
    h = ctypes.c_void_p()
    assert libbrain.brain_open(brain.path.encode(), 0, None, ctypes.byref(h)) == 0
    try:
        src = np.arange(12, dtype="<f4").reshape(3, 4) * 1.5
        shape = (ctypes.c_uint64 * 2)(3, 4)
        a = brain_array()
        assert libbrain.brain_array_init(ctypes.byref(a), b"<f4", 2, shape) == 0
        rc = libbrain.brain_put_array(h, b"default", b"from_c", ctypes.byref(a),
                                      src.ctypes.data, None, None)
        assert rc == 0
    finally:
        libbrain.brain_close(h)
    got = brain["from_c"]
    assert isinstance(got, np.ndarray) and got.dtype == np.dtype("<f4")
    np.testing.assert_array_equal(got, src)
    assert brain.info("from_c")["type_name"] == "ndarray"
