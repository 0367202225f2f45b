// SPDX-License-Identifier: GPL-2.0
/*
 * Pinned memory accounting.
 *
 * A region's memory can outlive the process (and mm) that created it, so it
 * is charged the way io_uring charges registered buffers: to the creating
 * user's user_struct->locked_vm, against RLIMIT_MEMLOCK, unless the creator
 * has CAP_IPC_LOCK.  The charge and a reference on the user_struct stay
 * with the region until it is freed.  On top of that every region counts
 * against one global cap (sysfs pinned_cap_bytes).
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>

#include "ess.h"

atomic64_t ess_pinned_bytes = ATOMIC64_INIT(0);
u64 ess_pinned_cap;

u64 ess_total_ram_bytes(void)
{
	return (u64)totalram_pages() << PAGE_SHIFT;
}

static int ess_charge_global(u64 bytes)
{
	s64 old = atomic64_read(&ess_pinned_bytes);
	u64 cap = READ_ONCE(ess_pinned_cap);

	do {
		if ((u64)old + bytes > cap)
			return -ENOSPC;
	} while (!atomic64_try_cmpxchg(&ess_pinned_bytes, &old, old + bytes));
	return 0;
}

static int ess_charge_user(u64 bytes, struct user_struct *user)
{
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	unsigned long pages = bytes >> PAGE_SHIFT;
	unsigned long cur = atomic_long_read(&user->locked_vm);
	unsigned long new;

	do {
		new = cur + pages;
		if (new < cur || new > limit)
			return -ENOMEM;
	} while (!atomic_long_try_cmpxchg(&user->locked_vm, &cur, new));
	return 0;
}

/*
 * Charge @bytes to the global cap and, unless the caller has CAP_IPC_LOCK,
 * to the caller's RLIMIT_MEMLOCK.  On success *@user is the charged user
 * (with a reference) or NULL.  Fails with -ENOSPC over the global cap and
 * -ENOMEM over RLIMIT_MEMLOCK; nothing stays charged on failure.
 */
int ess_charge(u64 bytes, struct user_struct **user)
{
	struct user_struct *u;
	int ret;

	*user = NULL;
	ret = ess_charge_global(bytes);
	if (ret)
		return ret;
	if (capable(CAP_IPC_LOCK))
		return 0;
	u = get_uid(current_user());
	ret = ess_charge_user(bytes, u);
	if (ret) {
		free_uid(u);
		atomic64_sub(bytes, &ess_pinned_bytes);
		return ret;
	}
	*user = u;
	return 0;
}

void ess_uncharge(u64 bytes, struct user_struct *user)
{
	if (user) {
		atomic_long_sub(bytes >> PAGE_SHIFT, &user->locked_vm);
		free_uid(user);
	}
	atomic64_sub(bytes, &ess_pinned_bytes);
}
