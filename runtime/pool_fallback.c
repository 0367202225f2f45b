// SPDX-License-Identifier: MIT
/*
 * Fallback host-pool provider, used without /dev/ess: a hugetlb memfd when
 * the system has enough free huge pages, else anonymous memory advised for
 * transparent huge pages.  Bound to a NUMA node before the first touch and
 * locked.  When RLIMIT_MEMLOCK (or anything else) prevents mlock, the pool
 * goes on unlocked unless the caller asked for ESS_CFG_POOL_LOCKED; the
 * context reports it in ess_stats.pool_unlocked.
 */
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pool.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

static uint64_t hugepages_2m(const char *what)
{
	char path[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-2048kB/%s", what);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/* Huge pages neither in use nor promised to an existing mapping. */
static uint64_t available_hugepages_2m(void)
{
	uint64_t free = hugepages_2m("free_hugepages");
	uint64_t resv = hugepages_2m("resv_hugepages");

	return free > resv ? free - resv : 0;
}

/* The node to place on: the given one, else the calling CPU's. */
static int pick_node(int node, char *err, size_t errlen)
{
	int cpu;

	if (numa_available() < 0) {
		/* No NUMA: node 0 is the only one there is. */
		if (node > 0) {
			snprintf(err, errlen,
				 "NUMA node %d requested but NUMA is not available",
				 node);
			return -EINVAL;
		}
		return -1;
	}
	if (node >= 0) {
		if (node > numa_max_node()) {
			snprintf(err, errlen, "NUMA node %d does not exist (max %d)",
				 node, numa_max_node());
			return -EINVAL;
		}
		return node;
	}
	cpu = sched_getcpu();
	return cpu >= 0 ? numa_node_of_cpu(cpu) : -1;
}

static int bind_node(void *addr, uint64_t len, int node)
{
	unsigned long mask[16] = { 0 };

	if (node < 0 || node >= (int)(sizeof(mask) * 8))
		return 0;
	mask[node / (8 * sizeof(long))] |= 1UL << (node % (8 * sizeof(long)));
	return mbind(addr, len, MPOL_BIND, mask, sizeof(mask) * 8,
		     MPOL_MF_STRICT | MPOL_MF_MOVE) ? -errno : 0;
}

int ess_pool_fallback_open(struct ess_pool *p,
			   const struct ess_pool_params *rp,
			   char *err, size_t errlen)
{
	uint64_t bytes = (rp->bytes + ESS_POOL_ALIGN - 1) / ESS_POOL_ALIGN *
			 ESS_POOL_ALIGN;
	int node = pick_node(rp->node, err, errlen);
	void *m = MAP_FAILED;
	int fd = -1;

	if (node < -1)
		return node;
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->node = node;

	if (available_hugepages_2m() >= bytes / ESS_POOL_ALIGN) {
		fd = memfd_create("ess-pool", MFD_HUGETLB | MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, (off_t)bytes) == 0)
			m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
				 MAP_SHARED, fd, 0);
		if (m == MAP_FAILED && fd >= 0) {
			close(fd);
			fd = -1;
		}
	}
	if (m != MAP_FAILED) {
		p->src = ESS_POOL_SRC_HUGETLB;
	} else {
		m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED) {
			snprintf(err, errlen, "cannot map a host pool of %llu bytes: %s",
				 (unsigned long long)bytes, strerror(errno));
			return -ENOMEM;
		}
		/* THP is a hint: a kernel without it still works. */
		(void)madvise(m, bytes, MADV_HUGEPAGE);
		p->src = ESS_POOL_SRC_THP;
	}
	p->base = m;
	p->bytes = bytes;
	p->fd = fd;
	/* Place before the first touch; a failed bind leaves it unplaced. */
	if (bind_node(m, bytes, node))
		p->node = -1;
	/* The raw system call: sanitizer runtimes replace mlock() with a
	 * no-op that reports success, which would hide a refused lock. */
	if (syscall(SYS_mlock, m, bytes) == 0) {
		p->locked = 1;
	} else {
		int e = errno;
		struct rlimit rl = { 0, 0 };

		getrlimit(RLIMIT_MEMLOCK, &rl);
		if (rp->require_lock) {
			snprintf(err, errlen,
				 "cannot lock the %llu-byte host pool: %s (RLIMIT_MEMLOCK %llu bytes; raise it with ulimit -l or drop ESS_CFG_POOL_LOCKED)",
				 (unsigned long long)bytes, strerror(e),
				 (unsigned long long)rl.rlim_cur);
			ess_pool_close(p);
			return e == EPERM ? -EPERM : -ENOMEM;
		}
		/* Go on unlocked: correct, only slower to register and open
		 * to swapping.  Pages still come from the bound node when
		 * first touched. */
	}
	return 0;
}

void ess_pool_close(struct ess_pool *p)
{
	if (p->base && p->base != MAP_FAILED)
		munmap(p->base, p->bytes);
	if (p->fd >= 0)
		close(p->fd);
	p->base = NULL;
	p->fd = -1;
}
