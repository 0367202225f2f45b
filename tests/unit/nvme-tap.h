/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the nvme-* unit tests: TAP output, a seeded PRNG, and
 * a scratch file in a directory that supports O_DIRECT (tmpfs before Linux
 * 6.6 does not, so /tmp may not do).
 */
#ifndef ESS_TESTS_NVME_TAP_H
#define ESS_TESTS_NVME_TAP_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ess/nvme.h"
#include "tap.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static inline uint64_t rng_next(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static inline void rng_fill(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		if (i % 8 == 0) {
			uint64_t v = rng_next();

			memcpy(p + i, &v, len - i < 8 ? len - i : 8);
		}
	}
}

/*
 * Make a scratch file for an O_DIRECT store in $ESS_TEST_DIR, /var/tmp or
 * /tmp, the first that takes O_DIRECT.  Writes its path into path (unlinked
 * by the caller).  Returns 0, or -1 with a reason in why.
 */
static inline int nvme_scratch(char *path, size_t len, char *why, size_t whylen)
{
	const char *dirs[] = { getenv("ESS_TEST_DIR"), "/var/tmp", "/tmp" };
	size_t i;

	snprintf(why, whylen, "no directory takes O_DIRECT:");
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		int fd, dfd;

		if (!dirs[i] || !dirs[i][0])
			continue;
		snprintf(path, len, "%s/ess-nvme-test.XXXXXX", dirs[i]);
		fd = mkstemp(path);
		if (fd < 0) {
			size_t u = strlen(why);

			snprintf(why + u, whylen - u, " %s (%s)", dirs[i],
				 strerror(errno));
			continue;
		}
		close(fd);
		dfd = open(path, O_RDWR | O_DIRECT);
		if (dfd >= 0) {
			close(dfd);
			return 0;
		} else {
			size_t u = strlen(why);

			snprintf(why + u, whylen - u, " %s (%s)", dirs[i],
				 strerror(errno));
		}
		unlink(path);
	}
	return -1;
}

/*
 * A store of ext-byte extents and cap bytes on path, with extra config
 * flags and queue depth qd; NULL (and the reason as a TAP diagnostic) on
 * failure.
 */
static inline ess_nvme *nvme_open_cap(const char *path, uint32_t ext, uint32_t flags,
				      uint32_t qd, uint64_t cap)
{
	struct ess_nvme_config cfg;
	ess_nvme *st = NULL;
	char err[256];

	ess_nvme_config_default(&cfg);
	cfg.path = path;
	cfg.flags |= flags;
	cfg.extent_bytes = ext;
	cfg.queue_depth = qd;
	cfg.capacity_bytes = cap;
	if (ess_nvme_open(&cfg, &st, err, sizeof(err)))
		tap_diag("open %s: %s", path, err);
	return st;
}

/* The same with room for eight extents. */
static inline ess_nvme *nvme_open_small(const char *path, uint32_t ext, uint32_t flags,
					uint32_t qd)
{
	return nvme_open_cap(path, ext, flags, qd, 8 * (uint64_t)ext);
}

#endif /* ESS_TESTS_NVME_TAP_H */
