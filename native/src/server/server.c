/*
 * server.c -- the Redis-protocol server: an epoll loop over one store (pmalloc_kv_serve)
 *
 * One thread. Each turn reads what every ready client sent, runs all the complete
 * requests in one transaction (the batch, server.h), commits, and only then writes
 * the replies: a reply a client has was durable before it was sent. SIGTERM and
 * SIGINT arrive through a signalfd and end the loop after the turn.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/errmsg.h"
#include "common/util.h"
#include "libpmemobj.h"
#include "server/server.h"

#define EVENTS 256
#define READ_CHUNK (64 * 1024)
#define TICK_MS 100                    /* the background expiry runs this often */

struct client {
	int fd;
	struct buf in, out;
	size_t sent;              /* bytes of out written */
	size_t parsed;            /* bytes of in the running batch took */
	size_t mark;              /* out.len when the batch began */
	bool closing;             /* close once out is written (QUIT, a protocol error) */
	bool eof;                 /* the peer sent all it will: answer it, then close */
	bool dead;                /* the peer is gone: close now */
	bool ready;               /* in this turn's list */
	bool want_out;            /* EPOLLOUT registered */
	struct client *next;      /* this turn's list */
	struct client *prev_all, *next_all;   /* every connection */
};

struct loop {
	struct server s;
	int ep, listener, sigfd;
	size_t max_bulk;
	size_t max_query;         /* bytes a client may buffer without a whole request */
	struct req req;
	struct client *ready;     /* clients with input or output this turn */
	struct client *all;       /* every connection */
};

/* ---- clients ---------------------------------------------------------------- */

static void
mark_ready(struct loop *l, struct client *c)
{
	if (!c->ready) {
		c->ready = true;
		c->next = l->ready;
		l->ready = c;
	}
}

static void
client_close(struct loop *l, struct client *c)
{
	epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev_all)
		c->prev_all->next_all = c->next_all;
	else
		l->all = c->next_all;
	if (c->next_all)
		c->next_all->prev_all = c->prev_all;
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
	l->s.clients--;
}

static void
accept_all(struct loop *l)
{
	for (;;) {
		int fd = accept4(l->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;                         /* EAGAIN, or a client already gone */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct client *c = calloc(1, sizeof(*c));
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (!c || epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->next_all = l->all;
		if (l->all)
			l->all->prev_all = c;
		l->all = c;
		l->s.clients++;
	}
}

/* client_read -- take what the client sent: 1, 0 when it has finished sending (its
 * requests still get their replies), -1 when the connection failed */
static int
client_read(struct loop *l, struct client *c)
{
	for (;;) {
		if (c->in.len >= l->max_query) {     /* no whole request in that much: refuse */
			resp_error(&c->out, "ERR Protocol error: query buffer limit reached");
			c->closing = true;
			c->in.len = 0;
			return 1;
		}
		if (buf_reserve(&c->in, READ_CHUNK) != 0)
			return -1;
		size_t room = c->in.cap - c->in.len;
		ssize_t n = read(c->fd, c->in.p + c->in.len, room);
		if (n > 0) {
			c->in.len += (size_t)n;
			if ((size_t)n < room)
				return 1;                   /* all there was: epoll says when more comes */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return 0;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
	}
}

/* client_write -- send what is queued; false when the client is gone */
static bool
client_write(struct loop *l, struct client *c)
{
	while (c->sent < c->out.len) {
		ssize_t n = write(c->fd, c->out.p + c->sent, c->out.len - c->sent);
		if (n > 0) {
			c->sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		return false;
	}
	if (c->sent == c->out.len) {
		c->out.len = c->sent = 0;
		if (c->out.cap > (1u << 20))
			buf_free(&c->out);              /* a big reply's memory goes back */
	}
	bool want = c->sent < c->out.len;
	if (want != c->want_out || c->eof) {
		struct epoll_event ev = { .events = (c->eof ? 0 : EPOLLIN) | (want ? EPOLLOUT : 0),
			.data.ptr = c };
		epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want;
	}
	return true;
}

/* ---- requests ----------------------------------------------------------------- */

/* run -- one request: its reply into c->out; -1 when the store failed (errno) */
static int
run(struct loop *l, struct client *c, const struct req *r)
{
	bool quit = false;
	int rc = exec_request(&l->s, r, &c->out, &quit);
	c->closing |= quit;
	return rc;
}

/* next_request -- parse c's next request into l->req: 1, 0 (none yet), or -1 after a
 * protocol error (replied; the client closes) */
static int
next_request(struct loop *l, struct client *c, size_t *used)
{
	const char *why = NULL;
	ssize_t n = resp_parse(c->in.p + c->parsed, c->in.len - c->parsed, l->max_bulk, &l->req,
			&why);
	if (n > 0) {
		*used = (size_t)n;
		return 1;
	}
	if (n < 0) {
		resp_error(&c->out, "ERR %s", why);
		c->closing = true;
		c->parsed = c->in.len;
	}
	return n < 0 ? -1 : 0;
}

/* fallback -- run the batch's requests again, one transaction each */
static void
fallback(struct loop *l)
{
	for (struct client *c = l->ready; c; c = c->next) {
		c->out.len = c->mark;
		c->parsed = 0;
		c->closing = false;
		size_t used;
		while (!c->closing && next_request(l, c, &used) == 1) {
			exec_alone(&l->s, &l->req, &c->out, &c->closing);
			c->parsed += used;
		}
	}
}

/* batch -- run every complete request of this turn's clients in one transaction */
static void
batch(struct loop *l)
{
	PMEMobjpool *pop = l->s.kv->pop;
	l->s.now_ms = exec_now_ms();
	bool failed = pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE) != 0;
	for (struct client *c = l->ready; c && !failed; c = c->next) {
		c->mark = c->out.len;
		c->parsed = 0;
		size_t used;
		while (!failed && !c->closing && next_request(l, c, &used) == 1) {
			failed = run(l, c, &l->req) != 0;
			c->parsed += used;
		}
	}
	if (failed)
		pmemobj_tx_abort(errno ? errno : EIO);
	else
		pmemobj_tx_commit();
	if (pmemobj_tx_end() != 0 || failed)
		fallback(l);
	for (struct client *c = l->ready; c; c = c->next)
		buf_consume(&c->in, c->parsed);
}

/* expire_tick -- the background expiry's turn: a few buckets, one transaction */
static void
expire_tick(struct loop *l)
{
	l->s.now_ms = exec_now_ms();
	if (pmemobj_tx_begin(l->s.kv->pop, NULL, TX_PARAM_NONE) != 0) {
		pmemobj_tx_end();
		return;
	}
	if (db_expire_some(&l->s, 64) != 0)
		pmemobj_tx_abort(errno ? errno : EIO);
	else
		pmemobj_tx_commit();
	pmemobj_tx_end();
}

/* ---- set-up --------------------------------------------------------------------- */

/* listen_on -- a listening socket on host:port; the fd, or -1 (message set) */
static int
listen_on(const char *host, unsigned port, unsigned *bound)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *ai;
	char service[8];
	snprintf(service, sizeof(service), "%u", port);
	int err = getaddrinfo(host, service, &hints, &ai);
	if (err)
		return errmsg_set(EINVAL, "cannot bind %s: %s", host, gai_strerror(err)), -1;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 511) != 0) {
		errmsg_set_sys(errno, "cannot listen on %s:%u", host, port);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	*bound = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
			: ((struct sockaddr_in *)&sa)->sin_port);
	return fd;
}

static void
turn(struct loop *l, struct epoll_event *ev, int n, bool *stop)
{
	for (int i = 0; i < n; i++) {
		void *p = ev[i].data.ptr;
		if (p == &l->listener) {
			accept_all(l);
		} else if (p == &l->sigfd) {
			struct signalfd_siginfo si;
			while (read(l->sigfd, &si, sizeof(si)) == sizeof(si))
				*stop = true;
		} else {
			struct client *c = p;
			if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				int got = client_read(l, c);
				c->dead |= got < 0;
				c->eof |= got == 0;          /* replies first, then close */
			}
			mark_ready(l, c);
		}
	}
	bool input = false;
	for (struct client *c = l->ready; c; c = c->next)
		input |= c->in.len > 0;
	if (input)
		batch(l);
	while (l->ready) {
		struct client *c = l->ready;
		l->ready = c->next;
		c->ready = false;
		if (!c->dead && !client_write(l, c))
			c->dead = true;
		if (c->dead || ((c->closing || c->eof) && c->sent == c->out.len))
			client_close(l, c);
	}
}

API int
pmalloc_kv_serve(PMALLOC_KV *kv, const char *host, unsigned port, size_t max_bulk, int ready_fd)
{
	if (!kv || kv->rdonly || !host || port > 65535 || max_bulk == 0)
		return errmsg_set(EINVAL, "pmalloc_kv_serve: bad arguments"), -1;
	struct loop l = { .s = { .kv = kv, .keys = &kv->keys }, .max_bulk = max_bulk,
		.max_query = max_bulk + (64u << 20), .ep = -1, .sigfd = -1 };
	unsigned bound = 0;
	l.listener = listen_on(host, port, &bound);
	if (l.listener < 0)
		return -1;
	sigset_t stop_signals, old;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, &old);
	l.sigfd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
	l.ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &l.listener };
	struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &l.sigfd };
	int rc = 0;
	if (l.sigfd < 0 || l.ep < 0 || epoll_ctl(l.ep, EPOLL_CTL_ADD, l.listener, &lev) != 0 ||
			epoll_ctl(l.ep, EPOLL_CTL_ADD, l.sigfd, &sev) != 0) {
		rc = errmsg_set_sys(errno, "pmalloc_kv_serve: set-up");
	} else {
		if (ready_fd >= 0) {
			char line[300];
			int n = snprintf(line, sizeof(line), "pmalloc kv-server: ready on %s:%u\n",
					host, bound);
			if (write(ready_fd, line, (size_t)n) != n)
				rc = errmsg_set_sys(errno, "pmalloc_kv_serve: the ready line");
		}
		struct epoll_event ev[EVENTS];
		int64_t next_tick = exec_now_ms() + TICK_MS;
		for (bool stop = false; !stop && rc == 0;) {
			int n = epoll_wait(l.ep, ev, EVENTS, TICK_MS);
			if (n < 0 && errno != EINTR) {
				rc = errmsg_set_sys(errno, "pmalloc_kv_serve: epoll_wait");
				break;
			}
			turn(&l, ev, n < 0 ? 0 : n, &stop);
			if (exec_now_ms() >= next_tick) {
				expire_tick(&l);
				next_tick = exec_now_ms() + TICK_MS;
			}
		}
	}
	/* every reply was written or is a slow peer's: the connections go */
	while (l.all)
		client_close(&l, l.all);
	close(l.listener);
	if (l.ep >= 0)
		close(l.ep);
	if (l.sigfd >= 0)
		close(l.sigfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	resp_req_free(&l.req);
	return rc ? -1 : 0;
}
