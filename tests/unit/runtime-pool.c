// SPDX-License-Identifier: MIT
/*
 * The fallback host pool: hugetlb or THP memory, extents of one (request,
 * layer) at ascending addresses, ENOSPC with a message when full (and the
 * failed call changes nothing), extents freed and reused on remove.
 */
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "runtime-tap.h"

#define EB 32
#define ET 8

/*
 * In a child without CAP_IPC_LOCK and with RLIMIT_MEMLOCK 0: the default
 * goes on unlocked and says so; ESS_CFG_POOL_LOCKED fails with a message
 * naming the limit.  Exit status: bit 0 / bit 1 set on failure of each.
 */
static int memlock_child(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	struct rlimit rl = { 0, 0 };
	struct ess_config c;
	struct ess_stats st;
	char err[256] = "";
	ess_ctx *ctx;
	int bad = 0, r;

	if (syscall(SYS_capget, &h, d) == 0) {
		d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
		d[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
		syscall(SYS_capset, &h, d);
	}
	setrlimit(RLIMIT_MEMLOCK, &rl);
	small_cfg(&c);
	r = ess_create(&c, &ctx, err, sizeof(err));
	if (r || ess_stats_get(ctx, &st) || st.pool_unlocked != 1)
		bad |= 1;
	if (!r)
		ess_destroy(ctx);
	c.flags |= ESS_CFG_POOL_LOCKED;
	r = ess_create(&c, &ctx, err, sizeof(err));
	if ((r != -ENOMEM && r != -EPERM) || !strstr(err, "RLIMIT_MEMLOCK"))
		bad |= 2;
	return bad;
}

int main(void)
{
	pid_t pid;
	int status;

	struct ess_config c;
	struct ess_stats st;
	uint8_t rows[64 * EB];
	uint32_t r0, r1, r2, n, cap;
	ess_ctx *ctx;
	const char *prov;
	int asc = 1, ret;

	seed_rng();
	small_cfg(&c);
	c.entry_bytes = EB;
	c.extent_tokens = ET;
	c.max_tokens = 256;
	c.layers = 2;
	c.pool_bytes = 40 * ET * EB;	/* 40 extents */
	ctx = make_ctx(&c);
	prov = ess_pool_provider(ctx);
	ok(!strcmp(prov, "hugetlb") || !strcmp(prov, "thp"),
	   "fallback provider: %s", prov);
	ess_stats_get(ctx, &st);
	cap = (uint32_t)(st.pool_bytes / (ET * EB));
	ok(cap == 40, "pool holds the 40 extents asked for (%u)", cap);
	diag("pool unlocked: %llu", (unsigned long long)st.pool_unlocked);
	ok(st.pool_used_bytes == 0, "empty at start");

	/* Two requests interleave their ingests; each one's rows must still
	 * be at ascending addresses within a layer. */
	fill_random(rows, sizeof(rows));
	MUST(ess_request_add(ctx, 1, &r0));
	MUST(ess_request_add(ctx, 2, &r1));
	for (uint32_t k = 0; k < 4; k++) {
		MUST(ess_ingest(ctx, r0, 0, k * 16, 16, rows));
		MUST(ess_ingest(ctx, r1, 0, k * 16, 16, rows));
		MUST(ess_ingest(ctx, r0, 1, k * 16, 16, rows));
	}
	for (uint32_t t = 1; t < 64; t++) {
		asc &= (const uint8_t *)ess_host_row(ctx, r0, 0, t) >
		       (const uint8_t *)ess_host_row(ctx, r0, 0, t - 1);
		asc &= (const uint8_t *)ess_host_row(ctx, r1, 0, t) >
		       (const uint8_t *)ess_host_row(ctx, r1, 0, t - 1);
		asc &= (const uint8_t *)ess_host_row(ctx, r0, 1, t) >
		       (const uint8_t *)ess_host_row(ctx, r0, 1, t - 1);
	}
	ok(asc, "sorted token ids give ascending host addresses per (request, layer)");
	ok((const uint8_t *)ess_host_row(ctx, r0, 0, 1) -
	   (const uint8_t *)ess_host_row(ctx, r0, 0, 0) == EB,
	   "rows of an extent are consecutive");
	ess_stats_get(ctx, &st);
	ok(st.pool_used_bytes == 24ull * ET * EB, "24 extents in use");

	/* Fill the rest; the extent that does not fit fails the call. */
	MUST(ess_request_add(ctx, 3, &r2));
	n = (cap - 24) * ET;
	for (uint32_t t = 0; t < n; t += 8)
		MUST(ess_ingest(ctx, r2, t / 128, t % 128, 8, rows));
	ess_stats_get(ctx, &st);
	ok(st.pool_used_bytes == (uint64_t)cap * ET * EB, "pool full");
	ret = ess_ingest(ctx, r1, 1, 0, 9, rows);
	ok(ret == -ENOSPC && strstr(ess_errmsg(ctx), "pool full"),
	   "ENOSPC when full: \"%s\"", ess_errmsg(ctx));
	ok(ess_request_tokens(ctx, r1, 1, &n) == 0 && n == 0, "failed ingest left no tokens");
	ess_stats_get(ctx, &st);
	ok(st.pool_used_bytes == (uint64_t)cap * ET * EB, "and no extent");
	{
		uint32_t rr = r1;
		uint8_t one[EB];

		ret = ess_append(ctx, 0, 1, &rr, one, NULL);
		ok(ret == -ENOSPC, "append needing a new extent: -ENOSPC");
		ok(ess_request_tokens(ctx, r1, 0, &n) == 0 && n == 64,
		   "failed append left the token count");
	}

	/* Remove r0: its 16 extents come back and are reused. */
	MUST(ess_request_remove(ctx, r0));
	ess_stats_get(ctx, &st);
	ok(st.pool_used_bytes == (uint64_t)(cap - 16) * ET * EB, "remove frees its extents");
	ok(ess_ingest(ctx, r1, 1, 0, 64, rows) == 0, "freed extents are reused");
	ok(!memcmp(ess_host_row(ctx, r1, 1, 63), rows + 63 * EB, EB),
	   "reused extent holds the new row");
	ess_destroy(ctx);

	pid = fork();
	if (pid == 0)
		_exit(memlock_child());
	waitpid(pid, &status, 0);
	diag("memlock child: exited %d status %d signal %d", WIFEXITED(status),
	     WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	     WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	ok(WIFEXITED(status) && !(WEXITSTATUS(status) & 1),
	   "mlock refused: pool works unlocked, ess_stats.pool_unlocked = 1");
	ok(WIFEXITED(status) && !(WEXITSTATUS(status) & 2),
	   "mlock refused with ESS_CFG_POOL_LOCKED: -ENOMEM naming RLIMIT_MEMLOCK");
	return done();
}
