// SPDX-License-Identifier: MIT
/*
 * Module host-pool provider: a /dev/ess region (pinned huge blocks, NUMA
 * placed by the module), anonymous or named.  A named region is attached
 * when it exists (warm restart) and created otherwise; it outlives the
 * process until ess_region_destroy().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uapi/ess.h>

#include "pool.h"

int ess_pool_module_present(void)
{
	return access(ESS_DEVICE_PATH, F_OK) == 0;
}

static int region_info(struct ess_pool *p, char *err, size_t errlen)
{
	struct ess_info in;

	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	if (ioctl(p->fd, ESS_IOC_INFO, &in)) {
		snprintf(err, errlen, "ESS_IOC_INFO: %s", strerror(errno));
		return -errno;
	}
	p->bytes = in.bytes;
	p->node = in.node;
	p->heat_shift = in.heat_shift;
	p->nr_heat_blocks = in.nr_heat_blocks;
	return 0;
}

static int name_ok(const char *name, char *err, size_t errlen)
{
	size_t n = strlen(name);

	if (n == 0 || n >= ESS_NAME_MAX) {
		snprintf(err, errlen, "region name must be 1..%d characters",
			 ESS_NAME_MAX - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (name[i] < 0x21 || name[i] > 0x7e || name[i] == '/') {
			snprintf(err, errlen,
				 "region name \"%s\": printable ASCII without '/' or spaces only",
				 name);
			return -EINVAL;
		}
	}
	return 0;
}

int ess_pool_module_open(struct ess_pool *p,
			 const struct ess_pool_params *rp,
			 char *err, size_t errlen)
{
	uint64_t bytes = (rp->bytes + ESS_BLOCK_SIZE - 1) / ESS_BLOCK_SIZE *
			 ESS_BLOCK_SIZE;
	int ret;
	void *m;

	memset(p, 0, sizeof(*p));
	p->src = ESS_POOL_SRC_MODULE;
	p->node = -1;
	if (rp->name) {
		ret = name_ok(rp->name, err, errlen);
		if (ret)
			return ret;
	}
	p->fd = open(ESS_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (p->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", ESS_DEVICE_PATH,
			 strerror(errno));
		return ret == -ENOENT ? -ENODEV : ret;
	}
	if (rp->name) {
		struct ess_attach at;

		memset(&at, 0, sizeof(at));
		at.size = sizeof(at);
		snprintf(at.name, sizeof(at.name), "%s", rp->name);
		if (ioctl(p->fd, ESS_IOC_ATTACH, &at) == 0) {
			p->attached = 1;
		} else if (errno == EBUSY) {
			/* Attach is exclusive: one open file holds a region. */
			ret = -EBUSY;
			snprintf(err, errlen,
				 "region \"%s\" is attached by another process "
				 "(or another open of %s); it can be attached "
				 "once that holder exits or closes and unmaps it",
				 rp->name, ESS_DEVICE_PATH);
			goto fail;
		} else if (errno != ENOENT) {
			ret = -errno;
			snprintf(err, errlen, "attach region \"%s\": %s",
				 rp->name, strerror(errno));
			goto fail;
		}
	}
	if (!p->attached) {
		struct ess_create cr;

		memset(&cr, 0, sizeof(cr));
		cr.size = sizeof(cr);
		cr.bytes = bytes;
		cr.heat_shift = rp->heat_shift;
		if (rp->node >= 0) {
			cr.flags |= ESS_CREATE_NODE;
			cr.node = rp->node;
		}
		if (rp->name) {
			cr.flags |= ESS_CREATE_NAMED;
			snprintf(cr.name, sizeof(cr.name), "%s", rp->name);
		}
		if (ioctl(p->fd, ESS_IOC_CREATE, &cr)) {
			ret = -errno;
			snprintf(err, errlen,
				 "create %llu-byte region%s%s: %s",
				 (unsigned long long)bytes,
				 rp->name ? " " : "", rp->name ? rp->name : "",
				 strerror(errno));
			goto fail;
		}
	}
	ret = region_info(p, err, errlen);
	if (ret)
		goto fail;
	if (p->bytes < rp->bytes && !p->attached) {
		snprintf(err, errlen, "region is %llu bytes, asked for %llu",
			 (unsigned long long)p->bytes,
			 (unsigned long long)rp->bytes);
		ret = -EIO;
		goto fail;
	}
	m = mmap(NULL, p->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
	if (m == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "mmap of the %llu-byte region: %s",
			 (unsigned long long)p->bytes, strerror(errno));
		goto fail;
	}
	p->base = m;
	p->locked = 1;	/* the module's blocks are pinned */
	return 0;
fail:
	close(p->fd);
	p->fd = -1;
	return ret;
}

int ess_region_destroy(const char *name)
{
	struct ess_destroy d;
	int fd, ret = 0;

	if (!name || name_ok(name, (char[2]){ 0 }, 2))
		return -EINVAL;
	fd = open(ESS_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENODEV : -errno;
	memset(&d, 0, sizeof(d));
	d.size = sizeof(d);
	snprintf(d.name, sizeof(d.name), "%s", name);
	if (ioctl(fd, ESS_IOC_DESTROY, &d))
		ret = -errno;
	close(fd);
	return ret;
}
