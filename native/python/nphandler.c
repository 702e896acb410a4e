/*
 * nphandler.c -- pmalloc._nphandler: NumPy array data handlers (NEP 49)
 *
 * make(owner, ctx, malloc, calloc, realloc, free, name) builds a PyCapsule named
 * "mem_handler" over a PyDataMem_Handler whose allocator calls the four C
 * functions at the given addresses with ctx. The capsule holds a reference to
 * `owner` until it dies, which is when the last array it allocated and the last
 * context that installed it are gone: pmalloc.numpy passes an object that keeps
 * the pool open for that long.
 *
 * set(handler) installs a handler for the current context (thread, asyncio task),
 * NumPy's PyDataMem_SetHandler, and returns the one it replaced; None restores
 * NumPy's default. get() is PyDataMem_GetHandler.
 *
 * NumPy's headers are not needed to build this: the handler layout is NEP 49's
 * version 1 (fixed by NumPy's ABI), and the two functions come from NumPy's C-API
 * table (the _ARRAY_API capsule) at their fixed slots, looked up at first use.
 * Every function runs with the GIL held.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* NEP 49, version 1: NumPy's PyDataMemAllocator and PyDataMem_Handler. */
struct np_allocator {
	void *ctx;
	void *(*malloc)(void *ctx, size_t size);
	void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
	void *(*realloc)(void *ctx, void *ptr, size_t new_size);
	void (*free)(void *ctx, void *ptr, size_t size);
};

struct np_handler {
	char name[127];
	uint8_t version;
	struct np_allocator allocator;
};

/* What the capsule points at: the handler, and the object it keeps alive. */
struct box {
	struct np_handler handler;
	PyObject *owner;
};

#define CAPSULE_NAME "mem_handler"
#define API_SET_HANDLER 304     /* PyDataMem_SetHandler's slot in NumPy's C-API table */
#define API_GET_HANDLER 305     /* PyDataMem_GetHandler's */
#define API_FEATURE_VERSION 211 /* PyArray_GetNDArrayCFeatureVersion's */
#define FEATURE_1_22 0x0000000f /* the C-API feature version that added handlers */

static void **np_api;           /* NumPy's C-API table, once found */

/* np_api_load -- find NumPy's C-API table; -1 + exception if NumPy is missing or
 * older than 1.22 */
static int
np_api_load(void)
{
	if (np_api)
		return 0;
	PyObject *mod = PyImport_ImportModule("numpy._core._multiarray_umath");
	if (!mod) {
		if (!PyErr_ExceptionMatches(PyExc_ImportError))
			return -1;
		PyErr_Clear();
		mod = PyImport_ImportModule("numpy.core._multiarray_umath");   /* NumPy 1.x */
		if (!mod)
			return -1;
	}
	PyObject *cap = PyObject_GetAttrString(mod, "_ARRAY_API");
	Py_DECREF(mod);
	if (!cap)
		return -1;
	void **api = PyCapsule_IsValid(cap, NULL) ? PyCapsule_GetPointer(cap, NULL) : NULL;
	Py_DECREF(cap);
	if (!api) {
		PyErr_SetString(PyExc_ImportError, "numpy's _ARRAY_API is not a C-API table");
		return -1;
	}
	unsigned (*feature)(void) = (unsigned (*)(void))api[API_FEATURE_VERSION];
	if (feature() < FEATURE_1_22) {
		PyErr_SetString(PyExc_ImportError,
				"numpy is too old for array data handlers (NEP 49): 1.22 or newer is needed");
		return -1;
	}
	np_api = api;
	return 0;
}

static void
box_destroy(PyObject *capsule)
{
	struct box *b = PyCapsule_GetPointer(capsule, CAPSULE_NAME);
	if (!b)
		return;
	Py_XDECREF(b->owner);
	PyMem_Free(b);
}

/* the address in an int argument, or 0 + exception */
static uintptr_t
address(PyObject *o, const char *what)
{
	uintptr_t a = (uintptr_t)PyLong_AsVoidPtr(o);
	if (!a && !PyErr_Occurred())
		PyErr_Format(PyExc_ValueError, "%s: a NULL address", what);
	return a;
}

static PyObject *
nph_make(PyObject *self, PyObject *args)
{
	(void)self;
	PyObject *owner, *ctx, *fm, *fc, *fr, *ff;
	const char *name;
	Py_ssize_t name_len;
	if (!PyArg_ParseTuple(args, "OOOOOOs#:make", &owner, &ctx, &fm, &fc, &fr, &ff,
			&name, &name_len))
		return NULL;
	if (name_len >= (Py_ssize_t)sizeof(((struct np_handler *)0)->name))
		return PyErr_Format(PyExc_ValueError, "handler name of %zd bytes: at most 126",
				name_len);
	uintptr_t c = address(ctx, "ctx"), m = address(fm, "malloc"), z = address(fc, "calloc");
	uintptr_t r = address(fr, "realloc"), f = address(ff, "free");
	if (!c || !m || !z || !r || !f)
		return NULL;
	struct box *b = PyMem_Calloc(1, sizeof(*b));
	if (!b)
		return PyErr_NoMemory();
	memcpy(b->handler.name, name, (size_t)name_len);
	b->handler.version = 1;
	b->handler.allocator = (struct np_allocator){
		.ctx = (void *)c,
		.malloc = (void *(*)(void *, size_t))m,
		.calloc = (void *(*)(void *, size_t, size_t))z,
		.realloc = (void *(*)(void *, void *, size_t))r,
		.free = (void (*)(void *, void *, size_t))f,
	};
	PyObject *cap = PyCapsule_New(b, CAPSULE_NAME, box_destroy);
	if (!cap) {
		PyMem_Free(b);
		return NULL;
	}
	Py_INCREF(owner);
	b->owner = owner;
	return cap;
}

static PyObject *
nph_set(PyObject *self, PyObject *handler)
{
	(void)self;
	if (handler != Py_None && !PyCapsule_IsValid(handler, CAPSULE_NAME))
		return PyErr_Format(PyExc_TypeError, "expected a capsule named '%s' or None",
				CAPSULE_NAME);
	if (np_api_load() < 0)
		return NULL;
	PyObject *(*set)(PyObject *) = (PyObject *(*)(PyObject *))np_api[API_SET_HANDLER];
	return set(handler == Py_None ? NULL : handler);
}

static PyObject *
nph_get(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	if (np_api_load() < 0)
		return NULL;
	PyObject *(*get)(void) = (PyObject *(*)(void))np_api[API_GET_HANDLER];
	return get();
}

static PyObject *
nph_owner(PyObject *self, PyObject *handler)
{
	(void)self;
	struct box *b = PyCapsule_IsValid(handler, CAPSULE_NAME)
		? PyCapsule_GetPointer(handler, CAPSULE_NAME) : NULL;
	if (!b || PyCapsule_GetDestructor(handler) != box_destroy)
		Py_RETURN_NONE;
	Py_INCREF(b->owner);
	return b->owner;
}

static PyMethodDef nph_methods[] = {
	{ "make", nph_make, METH_VARARGS, PyDoc_STR(
		"make(owner, ctx, malloc, calloc, realloc, free, name) -> capsule\n\n"
		"A 'mem_handler' capsule calling the C functions at those addresses with\n"
		"ctx; it keeps owner alive as long as it lives.") },
	{ "set", nph_set, METH_O, PyDoc_STR(
		"set(handler) -> previous\n\nPyDataMem_SetHandler: install handler (None: "
		"NumPy's default) for the current context; returns the one replaced.") },
	{ "get", nph_get, METH_NOARGS, PyDoc_STR(
		"get() -> handler\n\nPyDataMem_GetHandler: the current context's handler.") },
	{ "owner", nph_owner, METH_O, PyDoc_STR(
		"owner(handler) -> object\n\nThe owner of a handler make() built, else None.") },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef nph_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "pmalloc._nphandler",
	.m_doc = PyDoc_STR("NumPy array data handlers (NEP 49) over C allocators."),
	.m_size = -1,
	.m_methods = nph_methods,
};

PyMODINIT_FUNC
PyInit__nphandler(void)
{
	return PyModule_Create(&nph_module);
}
