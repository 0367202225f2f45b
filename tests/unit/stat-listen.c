// SPDX-License-Identifier: MIT
/*
 * ess-stat --listen: the /metrics server answers a scrape with the
 * exposition (HTTP/1.0, version 0.0.4 content type, exact length), 404s
 * other paths, 405s other methods, 431s an oversized request, stops after
 * --max-requests and on SIGTERM (exit 0), and exits 1 when its port is
 * taken.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include "stat-tap.h"

static char dir[] = "/tmp/ess-stat-listen.XXXXXX";

struct server {
	pid_t pid;
	int port;
};

/* Start ess-stat with args; its stderr's first line gives the port. */
static int start(struct server *s, char *const *argv)
{
	char line[256];
	int p[2];
	size_t n = 0;
	char *colon;

	MUST(pipe(p));
	fflush(stdout);
	s->pid = fork();
	if (s->pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		execv(stat_bin(), argv);
		_exit(127);
	}
	close(p[1]);
	while (n < sizeof(line) - 1 && read(p[0], line + n, 1) == 1 &&
	       line[n] != '\n')
		n++;
	line[n] = 0;
	close(p[0]);
	colon = strstr(line, "127.0.0.1:");
	s->port = colon ? atoi(colon + 10) : -1;
	if (s->port <= 0)
		diag("server said: %s", line);
	return s->port > 0 ? 0 : -1;
}

static int finish(struct server *s)
{
	int st;

	waitpid(s->pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Send req (len bytes) to the port, return the whole answer (malloc). */
static char *exchange(int port, const char *req, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char *ans;

	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		diag("connect: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return strdup("");
	}
	while (len) {
		ssize_t w = send(fd, req, len, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		req += w;
		len -= (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	ans = slurp_fd(fd);
	close(fd);
	return ans;
}

static char *get(int port, const char *req)
{
	return exchange(port, req, strlen(req));
}

int main(void)
{
	char *const args[] = { "ess-stat", "--listen", "0", "--max-requests", "4",
			       "--sysfs", "/nonexistent/ess", NULL };
	char *const forever[] = { "ess-stat", "--listen", "0", NULL };
	char port_s[16], *ans, *body, *big;
	struct server s, s2;
	const char *cl;
	int r;

	alarm(120);	/* a hung server fails the test instead of hanging it */
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	setenv("ESS_STAT_DIR", dir, 1);

	r = start(&s, args);
	ok(r == 0, "server announces its port on stderr (%d)", s.port);
	if (s.port <= 0)
		return done();

	ans = get(s.port, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
	body = strstr(ans, "\r\n\r\n");
	cl = strstr(ans, "Content-Length: ");
	ok(!strncmp(ans, "HTTP/1.0 200 OK\r\n", 17) &&
	   strstr(ans, "Content-Type: text/plain; version=0.0.4") &&
	   body && cl && (size_t)atol(cl + 16) == strlen(body + 4),
	   "GET /metrics: 200, 0.0.4 content type, exact Content-Length");
	ok(body && prom_value(body + 4, "ess_processes{state=\"live\"}") == 0 &&
	   prom_value(body + 4, "ess_module_loaded") == 0 &&
	   strstr(body, "# TYPE ess_hits_total counter"),
	   "body is the exposition (0 processes, module not loaded)");
	free(ans);

	ans = get(s.port, "GET /nope HTTP/1.0\r\n\r\n");
	ok(!strncmp(ans, "HTTP/1.0 404 ", 13), "GET /nope: 404");
	free(ans);
	ans = get(s.port, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
	ok(!strncmp(ans, "HTTP/1.0 405 ", 13), "POST /metrics: 405");
	free(ans);
	big = malloc(20000);
	memset(big, 'a', 20000);
	memcpy(big, "GET /", 5);
	ans = exchange(s.port, big, 20000);
	ok(!strncmp(ans, "HTTP/1.0 431 ", 13), "20000-byte request head: 431");
	free(ans);
	free(big);
	ok(finish(&s) == 0, "server exits 0 after --max-requests 4");

	r = start(&s2, forever);
	ok(r == 0, "unbounded server started (%d)", s2.port);
	snprintf(port_s, sizeof(port_s), "%d", s2.port);
	{
		char *const taken[] = { "ess-stat", "--listen", port_s, NULL };
		struct run_out ro;

		run_stat(&ro, taken);
		ok(ro.status == 1 && strstr(ro.err, "cannot listen on 127.0.0.1:") &&
		   strstr(ro.err, port_s), "port in use: exit 1 naming it");
		run_free(&ro);
	}
	ans = get(s2.port, "GET /metrics HTTP/1.0\r\n\r\n");
	ok(!strncmp(ans, "HTTP/1.0 200 OK\r\n", 17), "unbounded server answers");
	free(ans);
	kill(s2.pid, SIGTERM);
	ok(finish(&s2) == 0, "SIGTERM stops it, exit 0");
	ok(rmdir(dir) == 0, "segment directory left empty");
	return done();
}
