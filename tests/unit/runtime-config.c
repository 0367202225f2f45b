// SPDX-License-Identifier: MIT
/*
 * Context configuration: the defaults, and every invalid field refused with
 * -EINVAL, no context and a message naming the field.
 */
#include "runtime-tap.h"

static void bad(const char *what, void (*mut)(struct ess_config *),
		int want, const char *needle)
{
	struct ess_config c;
	ess_ctx *ctx = (ess_ctx *)1;
	char err[256] = "";
	int r;

	small_cfg(&c);
	mut(&c);
	r = ess_create(&c, &ctx, err, sizeof(err));
	ok(r == want && ctx == NULL && strstr(err, needle) != NULL,
	   "%s refused with %d (got %d: \"%s\")", what, want, r, err);
	if (!r)
		ess_destroy(ctx);
}

#define MUT(name, stmt) static void name(struct ess_config *c) { stmt; }
MUT(m_size, c->size = 4)
MUT(m_flags, c->flags = 1u << 30)
MUT(m_layers0, c->layers = 0)
MUT(m_layersbig, c->layers = ESS_MAX_LAYERS + 1)
MUT(m_entry0, c->entry_bytes = 0)
MUT(m_topk0, c->topk = 0)
MUT(m_slots, c->slots = c->topk - 1)
MUT(m_req0, c->max_requests = 0)
MUT(m_slotreq, (c->slots = 1u << 20, c->topk = 8, c->max_requests = 4096))
MUT(m_tok0, c->max_tokens = 0)
MUT(m_tokbig, c->max_tokens = ESS_MAX_TOKENS + 1)
MUT(m_ext0, c->extent_tokens = 0)
MUT(m_ext3, c->extent_tokens = 3)
MUT(m_pool0, c->pool_bytes = 0)
MUT(m_poolsmall, c->pool_bytes = 100)
MUT(m_heat, c->heat_shift = 30)
MUT(m_numa, c->numa_node = -2)
MUT(m_numabig, c->numa_node = 4000)
MUT(m_poolkind, c->pool = 9)
MUT(m_backend, c->backend = 7)
MUT(m_device, c->device = -1)
MUT(m_policy, c->policy = "no-such-policy")
MUT(m_region_fb, c->region_name = "abc")
MUT(m_region_bad, (c->pool = ESS_POOL_AUTO, c->region_name = "a/b"))
MUT(m_region_long, (c->pool = ESS_POOL_AUTO, c->region_name =
	"0123456789012345678901234567890123456789012345678901234567890123456789"))

int main(void)
{
	struct ess_config c;
	ess_ctx *ctx = NULL;
	char err[256];
	int r;

	ess_config_default(&c);
	ok(c.size == sizeof(c) && c.layers == 61 && c.entry_bytes == 656 &&
	   c.topk == 2048 && c.slots == 6144, "defaults are 61/656/2048/6144");
	ok(c.policy == NULL && c.pool == ESS_POOL_AUTO &&
	   c.backend == ESS_BACKEND_CPU && c.numa_node == -1 &&
	   c.region_name == NULL, "default policy, pool, backend, node");

	bad("size", m_size, -EINVAL, "size");
	bad("unknown flag", m_flags, -EINVAL, "flags");
	bad("layers 0", m_layers0, -EINVAL, "layers");
	bad("layers > ESS_MAX_LAYERS", m_layersbig, -EINVAL, "layers");
	bad("entry_bytes 0", m_entry0, -EINVAL, "entry_bytes");
	bad("topk 0", m_topk0, -EINVAL, "topk");
	bad("slots < topk", m_slots, -EINVAL, "slots");
	bad("max_requests 0", m_req0, -EINVAL, "max_requests");
	bad("slot ids beyond int32", m_slotreq, -EINVAL, "int32");
	bad("max_tokens 0", m_tok0, -EINVAL, "max_tokens");
	bad("max_tokens too big", m_tokbig, -EINVAL, "max_tokens");
	bad("extent_tokens 0", m_ext0, -EINVAL, "extent_tokens");
	bad("extent_tokens not a power of two", m_ext3, -EINVAL, "extent_tokens");
	bad("pool_bytes 0", m_pool0, -EINVAL, "pool_bytes");
	bad("pool_bytes below one extent", m_poolsmall, -EINVAL, "pool_bytes");
	bad("heat_shift", m_heat, -EINVAL, "heat_shift");
	bad("numa_node -2", m_numa, -EINVAL, "numa_node");
	bad("numa node that does not exist", m_numabig, -EINVAL, "node");
	bad("pool kind", m_poolkind, -EINVAL, "pool kind");
	bad("backend kind", m_backend, -EINVAL, "backend");
	bad("device", m_device, -EINVAL, "device");
	bad("policy", m_policy, -EINVAL, "policy");
	bad("region_name with the fallback pool", m_region_fb, -EINVAL, "region_name");
	bad("region name with '/'", m_region_bad, -EINVAL, "region name");
	bad("region name too long", m_region_long, -EINVAL, "region name");

	r = ess_create(NULL, &ctx, err, sizeof(err));
	ok(r == -EINVAL && ctx == NULL && strstr(err, "cfg"), "NULL cfg refused");
	small_cfg(&c);
	r = ess_create(&c, NULL, err, sizeof(err));
	ok(r == -EINVAL && strstr(err, "out"), "NULL out refused");
	r = ess_create(&c, &ctx, NULL, 0);
	ok(r == 0 && ctx, "NULL errmsg buffer is allowed");
	ess_destroy(ctx);

	/* The CUDA backend's absence is -ENODEV, never a crash. */
	setenv("ESS_CUDA_LIB", "/nonexistent/libess-cuda.so", 1);
	small_cfg(&c);
	c.backend = ESS_BACKEND_CUDA;
	r = ess_create(&c, &ctx, err, sizeof(err));
	ok(r == -ENODEV && ctx == NULL && strstr(err, "CUDA"),
	   "CUDA backend without its library: -ENODEV (\"%s\")", err);

	/* A real library without the backend's symbol is refused too. */
	setenv("ESS_CUDA_LIB", "libm.so.6", 1);
	r = ess_create(&c, &ctx, err, sizeof(err));
	ok(r == -ENODEV && ctx == NULL && strstr(err, "ess_backend_cuda_ops"),
	   "library without the backend symbol: -ENODEV (\"%s\")", err);
	unsetenv("ESS_CUDA_LIB");

	/* Without the module, a named region is -ENODEV under AUTO. */
	if (access("/dev/ess", F_OK)) {
		small_cfg(&c);
		c.pool = ESS_POOL_AUTO;
		c.region_name = "ess-test";
		r = ess_create(&c, &ctx, err, sizeof(err));
		ok(r == -ENODEV && strstr(err, "module"),
		   "named region without the module: -ENODEV");
		c.region_name = NULL;
		c.pool = ESS_POOL_MODULE;
		r = ess_create(&c, &ctx, err, sizeof(err));
		ok(r == -ENODEV, "module pool without the module: -ENODEV (\"%s\")", err);
		ok(ess_region_destroy("x") == -ENODEV,
		   "ess_region_destroy without the module: -ENODEV");
		c.pool = ESS_POOL_AUTO;
		ctx = make_ctx(&c);
		ok(strcmp(ess_pool_provider(ctx), "module") != 0,
		   "AUTO without the module takes the fallback (%s)",
		   ess_pool_provider(ctx));
		ess_destroy(ctx);
	} else {
		for (int i = 0; i < 4; i++)
			ok(1, "# SKIP module present: -ENODEV cases not reachable");
	}

	/* A valid config: the one in force has the defaults filled in. */
	small_cfg(&c);
	c.heat_shift = 0;
	ctx = make_ctx(&c);
	ok(strcmp(ess_get_config(ctx)->policy, "lru") == 0,
	   "policy NULL means lru");
	ok(ess_get_config(ctx)->heat_shift == ESS_DEFAULT_HEAT_SHIFT,
	   "heat_shift 0 means the default");
	ok(ess_get_config(ctx)->layers == 3 && ess_get_config(ctx)->slots == 16,
	   "geometry kept");
	ok(strcmp(ess_errmsg(ctx), "") == 0, "no message after success");
	ok(ess_policy_names()[0] && strcmp(ess_policy_names()[0], "lru") == 0,
	   "policy names list lru");
	ok(strcmp(ess_strerror(-ENOSPC), "unknown error") != 0 &&
	   strcmp(ess_strerror(-12345), "unknown error") == 0, "ess_strerror");
	ess_destroy(ctx);
	ess_destroy(NULL);
	ok(1, "ess_destroy(NULL) is a no-op");
	return done();
}
