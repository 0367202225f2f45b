/* SPDX-License-Identifier: MIT */
/*
 * The host pool: one mapping of host memory holding, at its start, a header
 * with the runtime's persistent tables (requests, token counts, extent
 * tables) and, after it, the extents that hold latent rows.  Keeping the
 * tables inside the pool is what lets a restarted process re-attach a named
 * /dev/ess region and find its requests again.
 *
 * Two providers fill in the mapping:
 *   module    a /dev/ess region (runtime/pool_module.c)
 *   fallback  a hugetlb memfd, else THP-advised anonymous memory, locked and
 *             NUMA-bound (runtime/pool_fallback.c)
 * runtime/pool.c lays out the header and allocates extents on either.
 */
#ifndef ESS_RUNTIME_POOL_H
#define ESS_RUNTIME_POOL_H

#include <stddef.h>
#include <stdint.h>

#define ESS_POOL_MAGIC   0x314c4f4f50535345ULL	/* "ESSPOOL1" */
#define ESS_POOL_VERSION 1
#define ESS_POOL_ALIGN   (2ULL << 20)		/* data starts 2 MiB aligned */

/* Pool geometry, fixed when the pool is made; must match on attach. */
struct ess_pool_geom {
	uint32_t layers;
	uint32_t entry_bytes;
	uint32_t extent_tokens;
	uint32_t max_requests;
	uint32_t max_extents;	/* per (request, layer) */
};

/* One request of the persistent request table. */
struct ess_pool_req {
	uint64_t tag;
	uint32_t used;
	uint32_t reserved;
};

/* At offset 0 of the pool; the tables follow it at the offsets given. */
struct ess_pool_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t reserved;
	struct ess_pool_geom geom;
	uint32_t nextents;	/* extents in the data area */
	uint64_t extent_bytes;
	uint64_t req_off;	/* struct ess_pool_req[max_requests] */
	uint64_t ntokens_off;	/* uint32_t[max_requests * layers] */
	uint64_t extent_off_off; /* uint64_t[max_requests*layers*max_extents] */
	uint64_t data_off;	/* first extent */
	uint64_t bytes;		/* pool size the header was laid out for */
};

enum ess_pool_src {
	ESS_POOL_SRC_MODULE = 0,
	ESS_POOL_SRC_HUGETLB,
	ESS_POOL_SRC_THP,
};

struct ess_pool {
	/* mapping, set by the provider */
	void *base;
	uint64_t bytes;
	int fd;			/* /dev/ess or memfd, -1 for none */
	enum ess_pool_src src;
	int node;		/* NUMA node placed on, -1 unknown */
	int locked;		/* mlock'ed (or pinned by the module) */
	int attached;		/* a named region that existed before */
	uint32_t heat_shift;	/* module: log2 heat block bytes */
	uint64_t nr_heat_blocks;

	/* layout, set by ess_pool_format/ess_pool_adopt */
	struct ess_pool_hdr *hdr;
	struct ess_pool_req *req;
	uint32_t *ntokens;
	uint64_t *extent_off;
	uint64_t *used;		/* bitmap of extents in use (private) */
	uint32_t nused;
	uint32_t cursor;	/* next-fit start for a (req, layer)'s first */
};

/* What a provider is asked for. */
struct ess_pool_params {
	uint64_t bytes;		/* at least */
	int node;		/* -1: caller's node */
	const char *name;	/* module: named region, NULL anonymous */
	uint32_t heat_shift;
	int require_lock;
};

/* Bytes a pool of this geometry needs for its header and tables. */
uint64_t ess_pool_header_bytes(const struct ess_pool_geom *g);

/* Providers: 0 or -errno with a message in err. */
int ess_pool_module_open(struct ess_pool *p,
			 const struct ess_pool_params *rp,
			 char *err, size_t errlen);
int ess_pool_fallback_open(struct ess_pool *p,
			   const struct ess_pool_params *rp,
			   char *err, size_t errlen);
/* Unmap and close (a named region stays in the module). */
void ess_pool_close(struct ess_pool *p);
/* Is /dev/ess there? */
int ess_pool_module_present(void);

/*
 * Lay out a fresh header and empty tables (format), or take over the ones
 * a re-attached region holds after checking they match g (adopt; a region
 * whose header is all zero is formatted, a foreign one refused).  The data area holds data_bytes of
 * extents at most (what the caller asked for, the rest of the mapping is
 * rounding).  Both build the private extent bitmap.  -EINVAL/-EIO with a message.
 */
int ess_pool_format(struct ess_pool *p, const struct ess_pool_geom *g,
		    uint64_t data_bytes, char *err, size_t errlen);
int ess_pool_adopt(struct ess_pool *p, const struct ess_pool_geom *g,
		   uint64_t data_bytes, char *err, size_t errlen);
void ess_pool_fini(struct ess_pool *p);

/* Extent e of (req, layer): allocate it (ascending after extent e-1 of the
 * same (req, layer) where possible); -ENOSPC when full. */
int ess_pool_extent_alloc(struct ess_pool *p, uint32_t req, uint32_t layer,
			  uint32_t e, char *err, size_t errlen);
/* Free every extent of (req, layer) from extent `from` on. */
void ess_pool_extents_free(struct ess_pool *p, uint32_t req, uint32_t layer,
			   uint32_t from);

static inline uint64_t *ess_pool_extents(const struct ess_pool *p,
					 uint32_t req, uint32_t layer)
{
	const struct ess_pool_geom *g = &p->hdr->geom;

	return p->extent_off +
	       ((uint64_t)req * g->layers + layer) * g->max_extents;
}

static inline uint32_t *ess_pool_ntokens(const struct ess_pool *p,
					 uint32_t req, uint32_t layer)
{
	return p->ntokens + (uint64_t)req * p->hdr->geom.layers + layer;
}

#endif /* ESS_RUNTIME_POOL_H */
