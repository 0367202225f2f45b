// SPDX-License-Identifier: MIT
/*
 * --listen: a minimal HTTP/1.0 server for Prometheus scrapes.  It binds
 * 127.0.0.1 only (put a proxy in front to expose it), serves one
 * connection at a time, reads at most REQ_MAX bytes of request within
 * IO_TIMEOUT_S seconds, answers and closes.  GET /metrics: the exposition;
 * GET /: a pointer to it; other paths 404, other methods 405.  It stops on
 * SIGINT/SIGTERM (the poll wakes up at least once a second to look) or
 * after --max-requests connections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "stat.h"

#define REQ_MAX		8192
#define IO_TIMEOUT_S	5

volatile int stat_stop;

static int send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR && !stat_stop)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void respond(int fd, const char *status, const char *ctype,
		    const char *body, size_t len, int head)
{
	char hdr[512];
	int n;

	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n", status, ctype, len);
	if (send_all(fd, hdr, (size_t)n) == 0 && !head)
		send_all(fd, body, len);
}

static void text(int fd, const char *status, const char *msg, int head)
{
	respond(fd, status, "text/plain; charset=utf-8", msg, strlen(msg), head);
}

/* Read the request head: 0 complete, -1 closed/timeout, -2 too long. */
static int read_head(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t r;

	while (got < cap - 1) {
		r = recv(fd, buf + got, cap - 1 - got, 0);
		if (r < 0 && errno == EINTR && !stat_stop)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
		buf[got] = 0;
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return 0;
	}
	return -2;
}

/*
 * Lingering close after answering early: read (and drop) what the client
 * still sends, up to 1 MiB or the timeout, so closing with unread data does
 * not reset the connection before the client has read the answer.
 */
static void drain(int fd)
{
	char buf[4096];
	size_t total = 0;
	ssize_t r;

	shutdown(fd, SHUT_WR);
	while (total < (1u << 20)) {
		r = recv(fd, buf, sizeof(buf), 0);
		if (r <= 0)
			break;
		total += (size_t)r;
	}
}

static void serve_one(int fd, const struct stat_opts *o)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	char req[REQ_MAX], method[16], path[256], err[256], msg[300];
	struct stat_sample s;
	char *body = NULL;
	size_t len = 0;
	FILE *mf;
	int head, r;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	r = read_head(fd, req, sizeof(req));
	if (r == -2) {
		text(fd, "431 Request Header Fields Too Large", "request too large\n", 0);
		drain(fd);
		return;
	}
	if (r < 0)
		return;
	if (sscanf(req, "%15s %255s HTTP/%*d.%*d", method, path) != 2) {
		text(fd, "400 Bad Request", "bad request line\n", 0);
		return;
	}
	head = !strcmp(method, "HEAD");
	if (strcmp(method, "GET") && !head) {
		text(fd, "405 Method Not Allowed", "only GET and HEAD\n", 0);
		return;
	}
	path[strcspn(path, "?")] = 0;
	if (!strcmp(path, "/")) {
		text(fd, "200 OK", "ess-stat: metrics at /metrics\n", head);
		return;
	}
	if (strcmp(path, "/metrics")) {
		text(fd, "404 Not Found", "not found; metrics at /metrics\n", head);
		return;
	}
	if (stat_sample_take(o, &s, err, sizeof(err))) {
		snprintf(msg, sizeof(msg), "%s\n", err);
		text(fd, "500 Internal Server Error", msg, head);
		return;
	}
	mf = open_memstream(&body, &len);
	if (!mf) {
		stat_sample_free(&s);
		text(fd, "500 Internal Server Error", "out of memory\n", head);
		return;
	}
	stat_prometheus(mf, &s);
	fclose(mf);
	stat_sample_free(&s);
	respond(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body,
		len, head);
	free(body);
}

int stat_serve(const struct stat_opts *o, int port, unsigned long max_requests,
	       char *err, size_t errlen)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	unsigned long served = 0;
	int one = 1, lfd, cfd, ret;
	struct pollfd pfd;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "socket: %s", strerror(-ret));
		return ret;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(lfd, 16) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen)) {
		ret = -errno;
		snprintf(err, errlen, "cannot listen on 127.0.0.1:%d: %s", port,
			 strerror(-ret));
		close(lfd);
		return ret;
	}
	fprintf(stderr, "ess-stat: serving http://127.0.0.1:%u/metrics\n",
		ntohs(a.sin_port));
	fflush(stderr);
	pfd.fd = lfd;
	pfd.events = POLLIN;
	while (!stat_stop && (!max_requests || served < max_requests)) {
		ret = poll(&pfd, 1, 1000);
		if (ret <= 0)
			continue;	/* timeout or signal: look at stat_stop */
		cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		serve_one(cfd, o);
		close(cfd);
		served++;
	}
	close(lfd);
	return 0;
}
