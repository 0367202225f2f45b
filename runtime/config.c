// SPDX-License-Identifier: MIT
/*
 * Context configuration: defaults and validation of every field.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "hotset.h"

void ess_config_default(struct ess_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->layers = ESS_DEFAULT_LAYERS;
	cfg->entry_bytes = ESS_DEFAULT_ENTRY_BYTES;
	cfg->topk = ESS_DEFAULT_TOPK;
	cfg->slots = ESS_DEFAULT_SLOTS;
	cfg->max_requests = ESS_DEFAULT_MAX_REQUESTS;
	cfg->max_tokens = ESS_DEFAULT_MAX_TOKENS;
	cfg->policy = NULL;
	cfg->pool_bytes = ESS_DEFAULT_POOL_BYTES;
	cfg->extent_tokens = ESS_DEFAULT_EXTENT_TOKENS;
	cfg->heat_shift = ESS_DEFAULT_HEAT_SHIFT;
	cfg->numa_node = -1;
	cfg->pool = ESS_POOL_AUTO;
	cfg->region_name = NULL;
	cfg->backend = ESS_BACKEND_CPU;
	cfg->device = 0;
}

#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return -EINVAL; } while (0)

static int name_valid(const char *s)
{
	size_t n = strnlen(s, ESS_NAME_COPY);

	if (n == 0 || n >= ESS_NAME_COPY)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '/')
			return 0;
	return 1;
}

int ess_config_check(struct ess_config *c, char *err, size_t errlen)
{
	if (c->size != sizeof(*c))
		BAD("config: size is %u, expected sizeof(struct ess_config) = %zu (call ess_config_default first)",
		    c->size, sizeof(*c));
	if (c->flags & ~ESS_CFG_FLAGS)
		BAD("config: unknown flags 0x%x", c->flags & ~ESS_CFG_FLAGS);
	if (c->layers == 0 || c->layers > ESS_MAX_LAYERS)
		BAD("config: layers %u out of range 1..%u", c->layers,
		    ESS_MAX_LAYERS);
	if (c->entry_bytes == 0 || c->entry_bytes > (1u << 20))
		BAD("config: entry_bytes %u out of range 1..%u",
		    c->entry_bytes, 1u << 20);
	if (c->topk == 0)
		BAD("config: topk must be > 0");
	if (c->slots < c->topk)
		BAD("config: slots %u < topk %u (a top-k list must fit)",
		    c->slots, c->topk);
	if (c->max_requests == 0 || c->max_requests > 65536)
		BAD("config: max_requests %u out of range 1..65536",
		    c->max_requests);
	if ((uint64_t)c->slots * c->max_requests > INT32_MAX)
		BAD("config: slots x max_requests = %llu exceeds the int32 slot ids",
		    (unsigned long long)c->slots * c->max_requests);
	if (c->max_tokens == 0 || c->max_tokens > ESS_MAX_TOKENS)
		BAD("config: max_tokens %u out of range 1..%u", c->max_tokens,
		    ESS_MAX_TOKENS);
	if (c->extent_tokens == 0 || (c->extent_tokens & (c->extent_tokens - 1)))
		BAD("config: extent_tokens %u is not a power of two",
		    c->extent_tokens);
	if (c->pool_bytes == 0)
		BAD("config: pool_bytes must be > 0");
	if (c->pool_bytes < (uint64_t)c->extent_tokens * c->entry_bytes)
		BAD("config: pool_bytes %llu smaller than one extent (%llu bytes)",
		    (unsigned long long)c->pool_bytes,
		    (unsigned long long)c->extent_tokens * c->entry_bytes);
	if (c->heat_shift == 0)
		c->heat_shift = ESS_DEFAULT_HEAT_SHIFT;
	if (c->heat_shift < 12 || c->heat_shift > 21)
		BAD("config: heat_shift %u out of range 12..21", c->heat_shift);
	if (c->numa_node < -1)
		BAD("config: numa_node %d (use -1 for automatic)", c->numa_node);
	if (c->pool > ESS_POOL_FALLBACK)
		BAD("config: unknown pool kind %u", c->pool);
	if (c->backend > ESS_BACKEND_CUDA)
		BAD("config: unknown backend %u", c->backend);
	if (c->device < 0)
		BAD("config: device %d must be >= 0", c->device);
	if (c->policy) {
		if (strnlen(c->policy, ESS_NAME_COPY) >= ESS_NAME_COPY ||
		    ess_policy_by_name(c->policy) < 0)
			BAD("config: unknown policy \"%.32s\"", c->policy);
	}
	if (c->region_name) {
		if (c->pool == ESS_POOL_FALLBACK)
			BAD("config: region_name needs the module pool, not the fallback");
		if (!name_valid(c->region_name))
			BAD("config: region name \"%.63s\" invalid: 1..63 printable ASCII characters, no '/' or space",
			    c->region_name);
	}
	return 0;
}
