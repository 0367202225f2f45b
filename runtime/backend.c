// SPDX-License-Identifier: MIT
/*
 * Loader of the CUDA backend.  libess never links CUDA: the backend is
 * build/libess-cuda.so, opened with dlopen when a context asks for it, so
 * that the library and every tool run on machines without a GPU.
 *
 * Search order: $ESS_CUDA_LIB; libess-cuda.so next to the running
 * executable, then in its parent directory (build/bin/x -> build/, and
 * build/tests/unit/x -> build/tests -> build/ is covered by the third
 * candidate, two levels up); then the library search path.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"

#define CUDA_LIB "libess-cuda.so"

/* Truncating copy (snprintf "%s" with a long source trips -Wformat-truncation). */
static void copy_str(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);

	if (!len)
		return;
	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

static void *try_open(const char *path, char *why, size_t whylen)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		const char *e = dlerror();

		copy_str(why, whylen, e ? e : path);
	}
	return h;
}

static void *open_lib(char *tried, size_t triedlen, char *used, size_t usedlen)
{
	char exe[PATH_MAX], path[PATH_MAX + 32], why[256] = "";
	const char *env = getenv("ESS_CUDA_LIB");
	ssize_t n;
	void *h;

	if (env && *env) {
		copy_str(used, usedlen, env);
		h = try_open(env, why, sizeof(why));
		snprintf(tried, triedlen, "ESS_CUDA_LIB=%s: %s", env, why);
		return h;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		for (int up = 0; up < 3; up++) {
			char *slash = strrchr(exe, '/');

			if (!slash)
				break;
			*slash = 0;
			snprintf(path, sizeof(path), "%s/%s", exe, CUDA_LIB);
			if (access(path, F_OK) == 0) {
				copy_str(used, usedlen, path);
				h = try_open(path, why, sizeof(why));
				if (h)
					return h;
				copy_str(tried, triedlen, why);
				return NULL;
			}
		}
	}
	copy_str(used, usedlen, CUDA_LIB);
	h = try_open(CUDA_LIB, why, sizeof(why));
	if (!h)
		snprintf(tried, triedlen,
			 "%s not found next to the executable nor on the library path (set ESS_CUDA_LIB; build it with nvcc: make cuda)",
			 CUDA_LIB);
	return h;
}

int ess_backend_load_cuda(const struct ess_backend_ops **ops, void **handle,
			  char *err, size_t errlen)
{
	char tried[512] = "", used[256] = "";
	ess_backend_get_fn get;
	const struct ess_backend_ops *o;
	void *h;

	*ops = NULL;
	*handle = NULL;
	h = open_lib(tried, sizeof(tried), used, sizeof(used));
	if (!h) {
		snprintf(err, errlen, "CUDA backend unavailable: %s", tried);
		return -ENODEV;
	}
	*(void **)&get = dlsym(h, ESS_BACKEND_CUDA_SYMBOL);
	if (!get) {
		snprintf(err, errlen, "CUDA backend: %s lacks %s", used,
			 ESS_BACKEND_CUDA_SYMBOL);
		dlclose(h);
		return -ENODEV;
	}
	o = get();
	if (!o || o->abi != ESS_BACKEND_ABI ||
	    o->size != sizeof(struct ess_backend_ops) || !o->init ||
	    !o->fini || !o->resolve || !o->sync || !o->append ||
	    !o->warmup || !o->hot_layer || !o->request_reset ||
	    !o->read_tokens || !o->read_hot) {
		snprintf(err, errlen,
			 "CUDA backend: %s has backend ABI %u (size %u), libess expects %u (size %zu) with every required op",
			 used, o ? o->abi : 0, o ? o->size : 0,
			 ESS_BACKEND_ABI, sizeof(struct ess_backend_ops));
		dlclose(h);
		return -ENODEV;
	}
	*ops = o;
	*handle = h;
	return 0;
}

void ess_backend_unload(void *handle)
{
	if (handle)
		dlclose(handle);
}
