/* _strcol.h - object arrays of str packed for the store (see _strcol.c). */
#ifndef BRAIN_STRCOL_H
#define BRAIN_STRCOL_H

PyObject *strcol_pack(PyObject *m, PyObject *args);
PyObject *strcol_unpack(PyObject *m, PyObject *args);
PyObject *strcol_rebuild(PyObject *m, PyObject *args);

#endif
