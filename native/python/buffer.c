/*
 * buffer.c -- pmalloc._buffer: a raw memory view with the buffer protocol
 *
 * View(address, size) exports the `size` bytes at `address` as a writable,
 * one-dimensional buffer of unsigned bytes (format "B"), so memoryview(v),
 * bytes(v) and numpy.frombuffer(v) see the memory without a copy. A view owns
 * nothing: whoever made it (pmalloc.vmem.Pool, for its Buffer subclass) keeps
 * the memory alive and calls invalidate() before giving the memory back.
 *
 * Glossary:
 *   export  -- a Py_buffer handed out by bf_getbuffer and not yet released;
 *              a live memoryview or numpy array over the view holds one.
 *   valid   -- the view may export its memory. invalidate() clears it and
 *              refuses while exports are live (BufferError, as mmap.close).
 *   rebind  -- point a view without exports at other memory and make it valid
 *              again (realloc moved the allocation, or a failed call rolls a
 *              free back).
 *
 * Every function runs with the GIL held and never releases it, so the export
 * count and the validity flag cannot race between Python threads.
 *
 * Nothing here checks that an address is mapped: this private module is as raw
 * as ctypes. pmalloc.vmem only builds views over memory it allocated.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	PyObject_HEAD
	uintptr_t address;      /* first byte of the memory; 0 when invalid */
	Py_ssize_t size;        /* bytes exported; 0 when invalid */
	Py_ssize_t exports;     /* Py_buffer exports not yet released */
	int valid;              /* 1 while the memory may be exported */
	PyObject *weakreflist;  /* weak references to this view, or NULL */
} ViewObject;

/* ---- Helpers ------------------------------------------------------------ */

/* view_check_valid -- 0, or -1 with ValueError when the view is invalid */
static int
view_check_valid(ViewObject *self)
{
	if (!self->valid) {
		PyErr_SetString(PyExc_ValueError,
			"operation on an invalid buffer (freed, or its pool closed)");
		return -1;
	}
	return 0;
}

/* view_check_unexported -- 0, or -1 with BufferError while exports are live */
static int
view_check_unexported(ViewObject *self, const char *what)
{
	if (self->exports > 0) {
		PyErr_Format(PyExc_BufferError,
			"cannot %s a buffer with %zd live export(s): "
			"release its memoryviews and arrays first",
			what, self->exports);
		return -1;
	}
	return 0;
}

/*
 * view_parse_range -- check (address, size), store them in *addr and *len
 *
 * Both are taken as Python ints and range-checked here, so that a size past
 * Py_ssize_t is a ValueError like any other bad range, not the OverflowError
 * the "n" format would raise.
 */
static int
view_parse_range(PyObject *address, PyObject *size, uintptr_t *addr,
	Py_ssize_t *len)
{
	PyObject *nsize = PyNumber_Index(size);
	if (nsize == NULL)
		return -1;
	Py_ssize_t n = PyLong_AsSsize_t(nsize);
	Py_DECREF(nsize);
	if (n == -1 && PyErr_Occurred()) {
		if (!PyErr_ExceptionMatches(PyExc_OverflowError))
			return -1;
		PyErr_Clear();
		goto out_of_range;
	}
	if (n < 0) {
		PyErr_SetString(PyExc_ValueError, "size must not be negative");
		return -1;
	}
	PyObject *index = PyNumber_Index(address);
	if (index == NULL)
		return -1;
	unsigned long long value = PyLong_AsUnsignedLongLong(index);
	Py_DECREF(index);
	if (value == (unsigned long long)-1 && PyErr_Occurred()) {
		if (!PyErr_ExceptionMatches(PyExc_OverflowError))
			return -1;
		PyErr_Clear();
		goto out_of_range;
	}
#if ULLONG_MAX > UINTPTR_MAX
	if (value > UINTPTR_MAX)
		goto out_of_range;
#endif
	if ((uintptr_t)value > UINTPTR_MAX - (uintptr_t)n)
		goto out_of_range;
	*addr = (uintptr_t)value;
	*len = n;
	return 0;

out_of_range:
	PyErr_SetString(PyExc_ValueError,
		"address range does not fit the address space");
	return -1;
}

/* view_set -- make the view valid over [addr, addr + size) */
static void
view_set(ViewObject *self, uintptr_t addr, Py_ssize_t size)
{
	self->address = addr;
	self->size = size;
	self->valid = 1;
}

/* ---- Type slots --------------------------------------------------------- */

/* view_new -- View(address, size) */
static PyObject *
view_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"address", "size", NULL};
	PyObject *address, *nbytes;
	Py_ssize_t size;
	uintptr_t addr;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:View", kwlist,
			&address, &nbytes))
		return NULL;
	if (view_parse_range(address, nbytes, &addr, &size) < 0)
		return NULL;
	ViewObject *self = (ViewObject *)type->tp_alloc(type, 0);
	if (self == NULL)
		return NULL;
	self->exports = 0;
	self->weakreflist = NULL;
	view_set(self, addr, size);
	return (PyObject *)self;
}

/* view_dealloc -- a view being freed has no exports: each holds a reference */
static void
view_dealloc(PyObject *op)
{
	ViewObject *self = (ViewObject *)op;

	if (self->weakreflist != NULL)
		PyObject_ClearWeakRefs(op);
	Py_TYPE(op)->tp_free(op);
}

/* view_repr -- <Name address=0x... size=N exports=K>, or <Name invalid> */
static PyObject *
view_repr(PyObject *op)
{
	ViewObject *self = (ViewObject *)op;
	const char *name = Py_TYPE(op)->tp_name;

	if (!self->valid)
		return PyUnicode_FromFormat("<%s invalid>", name);
	return PyUnicode_FromFormat("<%s address=%p size=%zd exports=%zd>",
		name, (void *)self->address, self->size, self->exports);
}

/* view_length -- len(view): the size, ValueError when invalid */
static Py_ssize_t
view_length(PyObject *op)
{
	ViewObject *self = (ViewObject *)op;

	if (view_check_valid(self) < 0)
		return -1;
	return self->size;
}

/* ---- Buffer protocol ---------------------------------------------------- */

/* view_getbuffer -- export the memory writable, format "B", one dimension */
static int
view_getbuffer(PyObject *op, Py_buffer *view, int flags)
{
	ViewObject *self = (ViewObject *)op;

	if (view_check_valid(self) < 0) {
		view->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(view, op, (void *)self->address, self->size,
			0, flags) < 0) {
		view->obj = NULL;
		return -1;
	}
	self->exports++;
	return 0;
}

/* view_releasebuffer -- one export fewer */
static void
view_releasebuffer(PyObject *op, Py_buffer *Py_UNUSED(view))
{
	ViewObject *self = (ViewObject *)op;

	if (self->exports > 0)
		self->exports--;
}

/* ---- Methods ------------------------------------------------------------ */

/* view_invalidate -- stop exporting; BufferError while exports are live */
static PyObject *
view_invalidate(PyObject *op, PyObject *Py_UNUSED(ignored))
{
	ViewObject *self = (ViewObject *)op;

	if (view_check_unexported(self, "invalidate") < 0)
		return NULL;
	self->valid = 0;
	self->address = 0;
	self->size = 0;
	Py_RETURN_NONE;
}

/* view_rebind -- point an unexported view at (address, size), valid again */
static PyObject *
view_rebind(PyObject *op, PyObject *args)
{
	ViewObject *self = (ViewObject *)op;
	PyObject *address, *nbytes;
	Py_ssize_t size;
	uintptr_t addr;

	if (!PyArg_ParseTuple(args, "OO:_rebind", &address, &nbytes))
		return NULL;
	if (view_parse_range(address, nbytes, &addr, &size) < 0)
		return NULL;
	if (view_check_unexported(self, "rebind") < 0)
		return NULL;
	view_set(self, addr, size);
	Py_RETURN_NONE;
}

/*
 * view_reduce_ex -- refuse copy.copy, copy.deepcopy and pickle
 *
 * A copy would show the same memory without whoever keeps it alive knowing
 * (it could not be invalidated with the original), and an address means
 * nothing in another process. Python subclasses (pmalloc's Buffer, Mapping)
 * override this with their own reason.
 */
static PyObject *
view_reduce_ex(PyObject *op, PyObject *Py_UNUSED(protocol))
{
	PyErr_Format(PyExc_TypeError,
		"cannot copy or pickle a %s: it shows memory it does not own "
		"(bytes(view) copies the contents)", Py_TYPE(op)->tp_name);
	return NULL;
}

/* ---- Attributes --------------------------------------------------------- */

static PyObject *
view_get_address(PyObject *op, void *Py_UNUSED(closure))
{
	ViewObject *self = (ViewObject *)op;

	if (view_check_valid(self) < 0)
		return NULL;
	return PyLong_FromUnsignedLongLong((unsigned long long)self->address);
}

static PyObject *
view_get_size(PyObject *op, void *Py_UNUSED(closure))
{
	ViewObject *self = (ViewObject *)op;

	if (view_check_valid(self) < 0)
		return NULL;
	return PyLong_FromSsize_t(self->size);
}

static PyObject *
view_get_exports(PyObject *op, void *Py_UNUSED(closure))
{
	return PyLong_FromSsize_t(((ViewObject *)op)->exports);
}

static PyObject *
view_get_valid(PyObject *op, void *Py_UNUSED(closure))
{
	return PyBool_FromLong(((ViewObject *)op)->valid);
}

/* ---- Tables ------------------------------------------------------------- */

static PyMethodDef view_methods[] = {
	{"invalidate", view_invalidate, METH_NOARGS,
		PyDoc_STR("invalidate()\n--\n\n"
		"Stop exporting the memory: later exports, .address and .size raise\n"
		"ValueError. Raises BufferError while exports are live. Idempotent.")},
	{"_rebind", view_rebind, METH_VARARGS,
		PyDoc_STR("_rebind(address, size)\n--\n\n"
		"Point a view without live exports at other memory, valid again.")},
	{"__reduce_ex__", view_reduce_ex, METH_O,
		PyDoc_STR("Refuses: a View cannot be copied or pickled.")},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef view_getset[] = {
	{"address", view_get_address, NULL,
		PyDoc_STR("The address of the first byte (ValueError when invalid)."), NULL},
	{"size", view_get_size, NULL,
		PyDoc_STR("The number of bytes exported (ValueError when invalid)."), NULL},
	{"exports", view_get_exports, NULL,
		PyDoc_STR("The number of live buffer exports (memoryviews, arrays)."), NULL},
	{"valid", view_get_valid, NULL,
		PyDoc_STR("False once invalidated."), NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyBufferProcs view_as_buffer = {
	.bf_getbuffer = view_getbuffer,
	.bf_releasebuffer = view_releasebuffer,
};

static PySequenceMethods view_as_sequence = {
	.sq_length = view_length,
};

static PyTypeObject View_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pmalloc._buffer.View",
	.tp_basicsize = sizeof(ViewObject),
	.tp_itemsize = 0,
	.tp_dealloc = view_dealloc,
	.tp_repr = view_repr,
	.tp_as_sequence = &view_as_sequence,
	.tp_as_buffer = &view_as_buffer,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = PyDoc_STR("View(address, size)\n--\n\n"
		"A writable buffer (format 'B', one dimension) over size bytes at\n"
		"address. It does not own the memory. invalidate() before the memory\n"
		"goes away; it refuses while memoryviews or arrays export the view."),
	.tp_weaklistoffset = offsetof(ViewObject, weakreflist),
	.tp_methods = view_methods,
	.tp_getset = view_getset,
	.tp_new = view_new,
};

/* ---- Module ------------------------------------------------------------- */

static struct PyModuleDef buffer_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "pmalloc._buffer",
	.m_doc = PyDoc_STR("View: raw memory with the buffer protocol, for pmalloc pools."),
	.m_size = -1,
};

PyMODINIT_FUNC
PyInit__buffer(void)
{
	PyObject *m = PyModule_Create(&buffer_module);
	if (m == NULL)
		return NULL;
	if (PyModule_AddType(m, &View_Type) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
