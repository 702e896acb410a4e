/*
 * tx.c -- pmalloc._tx: the hot path of pmalloc.obj's transactions
 *
 * Tx is the base of pmalloc.obj.Transaction. It implements in C the three calls
 * a `with pool.transaction() as tx: tx.add(...)` block makes, __enter__, add and
 * __exit__: through cffi and Python frames they cost more than the transaction
 * itself. The C calls are libpmalloc's (pmalloc_tx_enter, pmalloc_tx_leave,
 * pmalloc_tx_add_addr, pmalloc_errormsg), bound once by bind() to the addresses
 * pmalloc._capi hands over; failures become exceptions through the factory
 * bind() takes (pmalloc.errors' errno mapping), as they would in Python.
 *
 * Tx(pool, pop, base, size): pool is the ObjPool (its _handle() raises once it
 * is closed), pop the address of its PMEMobjpool, [base, base + size) its
 * mapping. add() takes any buffer: a strided one (a numpy slice with steps) is
 * snapshotted over its whole extent.
 *
 * Every function runs with the GIL held.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

static struct {
	int (*enter)(void *pop);
	int (*leave)(int abort);
	int (*add)(uintptr_t addr, size_t size);
	const char *(*errormsg)(void);
	PyObject *make_error;     /* (errno, message) -> exception */
	PyObject *foreign;        /* the class for a buffer outside the pool */
} api;

typedef struct {
	PyObject_HEAD
	PyObject *pool;
	void *pop;
	uintptr_t base;
	uintptr_t size;
	char open;                /* inside the with block */
} TxObject;

/* raise_text -- set the exception the factory makes of (err, message); NULL */
static PyObject *
raise_text(int err, PyObject *message)
{
	if (!message)
		return NULL;
	PyObject *exc = PyObject_CallFunction(api.make_error, "iO", err, message);
	Py_DECREF(message);
	if (exc) {
		PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
		Py_DECREF(exc);
	}
	return NULL;
}

/* raise_errno -- the exception for err with the library's message after prefix; NULL */
static PyObject *
raise_errno(int err, const char *prefix)
{
	return raise_text(err, PyUnicode_FromFormat("%s%s", prefix, api.errormsg()));
}

/* raise_einval -- an argument error (InvalidArgumentError) with a formatted message */
static PyObject *
raise_einval(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	PyObject *message = PyUnicode_FromFormatV(fmt, ap);
	va_end(ap);
	return raise_text(EINVAL, message);
}

/* raise_as -- set an exception of class cls with message text; NULL */
static PyObject *
raise_as(PyObject *cls, const char *text)
{
	PyErr_SetString(cls, text);
	return NULL;
}

static int
bound(void)
{
	if (api.enter)
		return 0;
	PyErr_SetString(PyExc_RuntimeError, "pmalloc._tx is not bound to libpmalloc");
	return -1;
}

/* ---- Tx ------------------------------------------------------------------- */

static int
tx_init(TxObject *self, PyObject *args, PyObject *kwds)
{
	unsigned long long v[3];
	if ((kwds && PyDict_GET_SIZE(kwds)) || PyTuple_GET_SIZE(args) != 4) {
		PyErr_SetString(PyExc_TypeError, "Tx(pool, pop, base, size)");
		return -1;
	}
	for (int i = 0; i < 3; i++) {
		v[i] = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(args, i + 1));
		if (v[i] == (unsigned long long)-1 && PyErr_Occurred())
			return -1;
	}
	PyObject *pool = PyTuple_GET_ITEM(args, 0);
	Py_INCREF(pool);
	Py_XSETREF(self->pool, pool);
	self->pop = (void *)(uintptr_t)v[0];
	self->base = (uintptr_t)v[1];
	self->size = (uintptr_t)v[2];
	self->open = 0;
	return 0;
}

static void
tx_dealloc(TxObject *self)
{
	PyObject_GC_UnTrack(self);
	Py_CLEAR(self->pool);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
tx_traverse(TxObject *self, visitproc visit, void *arg)
{
	Py_VISIT(self->pool);
	return 0;
}

static int
tx_clear(TxObject *self)
{
	Py_CLEAR(self->pool);
	return 0;
}

static PyObject *handle_name;     /* "_h": the pool's handle, None once closed */

/* pool_open -- 0 while the pool is open; else -1 with the pool's own exception
 * (its _handle() raises it) */
static int
pool_open(TxObject *self)
{
	if (!self->pool)
		return raise_as(PyExc_ValueError, "the transaction has no pool"), -1;
	PyObject *h = PyObject_GetAttr(self->pool, handle_name);
	if (!h)
		return -1;
	int closed = h == Py_None;
	Py_DECREF(h);
	if (!closed)
		return 0;
	h = PyObject_CallMethod(self->pool, "_handle", NULL);
	Py_XDECREF(h);
	if (h)
		raise_as(PyExc_ValueError, "the transaction's pool is closed");
	return -1;
}

static PyObject *
tx_enter(TxObject *self, PyObject *unused)
{
	(void)unused;
	if (bound() != 0 || pool_open(self) != 0)
		return NULL;
	int err = api.enter(self->pop);
	if (err)
		return raise_errno(err, "");
	self->open = 1;
	Py_INCREF(self);
	return (PyObject *)self;
}

static PyObject *
tx_exit(TxObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	int abort = nargs > 0 && args[0] != Py_None;
	self->open = 0;
	if (bound() != 0)
		return NULL;
	int err = api.leave(abort);
	if (err && !abort)
		return raise_errno(err, "the transaction aborted: ");
	Py_RETURN_FALSE;
}

/* extent -- [*lo, *hi) that buf's memory spans (strides followed); 0 or -1 */
static int
extent(PyObject *buf, uintptr_t *lo, uintptr_t *hi)
{
	Py_buffer v;
	if (PyObject_GetBuffer(buf, &v, PyBUF_STRIDES) != 0)
		return -1;
	uintptr_t start = (uintptr_t)v.buf, first = start, last = start + (uintptr_t)v.itemsize;
	int empty = v.len == 0;
	if (v.strides && !empty) {
		for (int i = 0; i < v.ndim; i++) {
			Py_ssize_t span = (v.shape[i] - 1) * v.strides[i];
			if (span < 0)
				first -= (uintptr_t)-span;
			else
				last += (uintptr_t)span;
		}
	} else {
		last = start + (uintptr_t)v.len;
	}
	PyBuffer_Release(&v);
	*lo = empty ? start : first;
	*hi = empty ? start : last;
	return 0;
}

/* index_arg -- a byte count argument; -1 with the exception set */
static Py_ssize_t
index_arg(PyObject *o, const char *what)
{
	Py_ssize_t n = PyNumber_AsSsize_t(o, PyExc_OverflowError);
	if (n == -1 && PyErr_Occurred()) {
		if (!PyErr_ExceptionMatches(PyExc_OverflowError))
			return -1;
		PyErr_Clear();
		raise_einval("%s cannot be represented", what);
		return -1;
	}
	if (n < 0) {
		raise_einval("%s must not be negative, got %zd", what, n);
		return -1;
	}
	return n;
}

static PyObject *
tx_add(TxObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *argv[3] = { NULL, NULL, NULL };
	static const char *const names[] = { "buf", "offset", "size" };
	if (nargs > 3)
		return raise_as(PyExc_TypeError, "add() takes at most 3 arguments");
	for (Py_ssize_t i = 0; i < nargs; i++)
		argv[i] = args[i];
	for (Py_ssize_t k = 0; kwnames && k < PyTuple_GET_SIZE(kwnames); k++) {
		const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, k));
		int j = 0;
		while (j < 3 && (!name || strcmp(name, names[j]) != 0))
			j++;
		if (j == 3 || argv[j])
			return PyErr_Format(PyExc_TypeError, "add() got a bad or repeated argument %s",
					name ? name : "?");
		argv[j] = args[nargs + k];
	}
	if (!argv[0])
		return raise_as(PyExc_TypeError, "add() needs the buffer to snapshot");
	if (bound() != 0)
		return NULL;
	if (!self->open || pool_open(self) != 0) {
		if (!PyErr_Occurred()) {
			PyObject *r = PyObject_CallMethod((PyObject *)self, "_check", NULL);
			if (!r)
				return NULL;
			Py_DECREF(r);
		}
		if (PyErr_Occurred())
			return NULL;
	}
	uintptr_t lo, hi;
	if (extent(argv[0], &lo, &hi) != 0)
		return NULL;
	uintptr_t n = hi - lo;
	if ((argv[1] && argv[1] != Py_None) || (argv[2] && argv[2] != Py_None)) {
		Py_ssize_t off = argv[1] && argv[1] != Py_None ? index_arg(argv[1], "offset") : 0;
		if (off < 0)
			return NULL;
		if ((uintptr_t)off > n)
			return raise_einval("offset %zd is past the buffer's %zu bytes", off, (size_t)n);
		Py_ssize_t size = (Py_ssize_t)(n - (uintptr_t)off);
		if (argv[2] && argv[2] != Py_None && (size = index_arg(argv[2], "size")) < 0)
			return NULL;
		if ((uintptr_t)size > n - (uintptr_t)off)
			return raise_einval("[%zd, +%zd) is past the buffer's %zu bytes", off, size,
					(size_t)n);
		lo += (uintptr_t)off;
		n = (uintptr_t)size;
	}
	if (lo < self->base || lo > self->base + self->size || n > self->base + self->size - lo)
		return raise_as(api.foreign, "the buffer does not lie in this pool");
	int err = api.add(lo, (size_t)n);
	if (err)
		return raise_errno(err, "");
	Py_RETURN_NONE;
}

static PyMethodDef tx_methods[] = {
	{ "__enter__", (PyCFunction)tx_enter, METH_NOARGS, "Begin (or join) the transaction." },
	{ "__exit__", (PyCFunction)(void (*)(void))tx_exit, METH_FASTCALL,
		"Commit, or roll back when the block raised." },
	{ "add", (PyCFunction)(void (*)(void))tx_add, METH_FASTCALL | METH_KEYWORDS,
		"add(buf, offset=0, size=None): snapshot the buffer's bytes in the pool." },
	{ NULL, NULL, 0, NULL },
};

static PyMemberDef tx_members[] = {
	{ "_pool", T_OBJECT, offsetof(TxObject, pool), READONLY, "the ObjPool" },
	{ "_open", T_BOOL, offsetof(TxObject, open), READONLY, "inside the with block" },
	{ NULL, 0, 0, 0, NULL },
};

static PyTypeObject TxType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "pmalloc._tx.Tx",
	.tp_basicsize = sizeof(TxObject),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "The C part of pmalloc.obj.Transaction.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)tx_init,
	.tp_dealloc = (destructor)tx_dealloc,
	.tp_traverse = (traverseproc)tx_traverse,
	.tp_clear = (inquiry)tx_clear,
	.tp_methods = tx_methods,
	.tp_members = tx_members,
};

/* ---- module --------------------------------------------------------------- */

static PyObject *
mod_bind(PyObject *mod, PyObject *args)
{
	(void)mod;
	unsigned long long enter, leave, add, errormsg;
	PyObject *make_error, *foreign;
	if (!PyArg_ParseTuple(args, "KKKKOO", &enter, &leave, &add, &errormsg, &make_error,
			&foreign))
		return NULL;
	if (!enter || !leave || !add || !errormsg || !PyCallable_Check(make_error) ||
			!PyExceptionClass_Check(foreign))
		return raise_as(PyExc_ValueError, "bind() needs four C functions, an error "
				"factory and an exception class");
	Py_INCREF(make_error);
	Py_INCREF(foreign);
	Py_XSETREF(api.make_error, make_error);
	Py_XSETREF(api.foreign, foreign);
	api.enter = (int (*)(void *))(uintptr_t)enter;
	api.leave = (int (*)(int))(uintptr_t)leave;
	api.add = (int (*)(uintptr_t, size_t))(uintptr_t)add;
	api.errormsg = (const char *(*)(void))(uintptr_t)errormsg;
	Py_RETURN_NONE;
}

static PyMethodDef mod_methods[] = {
	{ "bind", mod_bind, METH_VARARGS,
		"bind(enter, leave, add, errormsg, make_error, foreign): the C calls (addresses of "
		"pmalloc_tx_enter, pmalloc_tx_leave, pmalloc_tx_add_addr, pmalloc_errormsg), the "
		"(errno, message) -> exception factory and the foreign-buffer exception class." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef tx_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "pmalloc._tx",
	.m_doc = "The hot path of pmalloc.obj's transactions.",
	.m_size = -1,
	.m_methods = mod_methods,
};

PyMODINIT_FUNC
PyInit__tx(void)
{
	if (PyType_Ready(&TxType) < 0)
		return NULL;
	if (!handle_name && !(handle_name = PyUnicode_InternFromString("_h")))
		return NULL;
	PyObject *m = PyModule_Create(&tx_module);
	if (!m)
		return NULL;
	Py_INCREF(&TxType);
	if (PyModule_AddObject(m, "Tx", (PyObject *)&TxType) < 0) {
		Py_DECREF(&TxType);
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
