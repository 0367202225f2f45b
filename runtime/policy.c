// SPDX-License-Identifier: MIT
/*
 * Policy names.  The rules themselves live in include/ess/hotset.h, where
 * the CPU and GPU code share them; this file only maps ids to the names
 * users pick them by (ess_config.policy, ess-trace --policy).
 */
#include <stddef.h>
#include <string.h>

#include "ess/ess.h"
#include "hotset.h"

/* Indexed by enum ess_policy_id; NULL-terminated for ess_policy_names(). */
static const char *const policy_names[ESS_POLICY_COUNT + 1] = {
	[ESS_POLICY_LRU] = "lru",
	[ESS_POLICY_LFRU] = "lfru",
	[ESS_POLICY_RET] = "ret",
	[ESS_POLICY_COUNT] = NULL,
};

const char *const *ess_policy_names(void)
{
	return policy_names;
}

int ess_policy_by_name(const char *name)
{
	uint32_t i;

	if (!name)
		return -1;
	for (i = 0; i < ESS_POLICY_COUNT; i++)
		if (strcmp(name, policy_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *ess_policy_name(uint32_t policy)
{
	return policy < ESS_POLICY_COUNT ? policy_names[policy] : NULL;
}
