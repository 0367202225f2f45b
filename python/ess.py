# SPDX-License-Identifier: MIT
"""Python binding of libess, over ctypes: no compiled extension.

A serving loop hands libess raw pointers: a PyTorch tensor's data_ptr(), a
CuPy array's data.ptr, or anything with __cuda_array_interface__ or
__array_interface__, and the CUDA stream it runs on
(torch.cuda.current_stream().cuda_stream).  For the CUDA backend the top-k,
the slot ids and new rows are device memory; for the CPU backend, host
memory.

    import ess
    ctx = ess.Context(layers=61, backend="cuda", max_requests=64)
    req = ctx.add_request(tag=1234)
    ctx.ingest(req, layer, rows)            # prefill rows (host memory)
    ctx.resolve(layer, [req], topk.data_ptr(), slots.data_ptr(), stream)
    # slots now holds layer-global slot ids into ctx.hot_layer(layer)

The flags of struct ess_config are keywords: data_check=, no_heat=,
no_stat= (no statistics segment for ess-stat; ctx.stats() still counts),
pool_locked= and fetch_ce= (CUDA backend: misses copied by the copy
engine, not SM loads).

Errors raise ess.Error, carrying the negative errno (.code) and libess's
message.  The library is found through $ESS_LIB, then the build directory
next to this file, then the system's library path (libess.so.0).
"""

import ctypes
import ctypes.util
import os

__all__ = ["Context", "Error", "Config", "Stats", "load_library", "policy_names"]

MAX_LAYERS = 256

BACKENDS = {"cpu": 0, "cuda": 1}
POOLS = {"auto": 0, "module": 1, "fallback": 2}
CFG_DATA_CHECK = 1 << 0
CFG_NO_HEAT = 1 << 1
CFG_POOL_LOCKED = 1 << 2
CFG_NO_STAT = 1 << 3
CFG_FETCH_CE = 1 << 4


class Config(ctypes.Structure):
    """struct ess_config (include/ess/ess.h), field for field."""
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("layers", ctypes.c_uint32),
        ("entry_bytes", ctypes.c_uint32),
        ("topk", ctypes.c_uint32),
        ("slots", ctypes.c_uint32),
        ("max_requests", ctypes.c_uint32),
        ("max_tokens", ctypes.c_uint32),
        ("policy", ctypes.c_char_p),
        ("pool_bytes", ctypes.c_uint64),
        ("extent_tokens", ctypes.c_uint32),
        ("heat_shift", ctypes.c_uint32),
        ("numa_node", ctypes.c_int32),
        ("pool", ctypes.c_uint32),
        ("region_name", ctypes.c_char_p),
        ("backend", ctypes.c_uint32),
        ("device", ctypes.c_int32),
    ]


_STAT_FIELDS = [
    "resolves", "lookups", "hits", "misses", "evictions", "appends",
    "ingested", "warmups", "bytes_h2d", "bytes_d2h", "fetch_ns",
    "data_checks", "data_check_failures", "requests_added",
    "requests_removed", "pool_bytes", "pool_used_bytes", "heat_reports",
    "heat_report_errors", "pool_unlocked", "hot_used_bytes",
]


class Stats(ctypes.Structure):
    """struct ess_stats (include/ess/ess.h), field for field."""
    _fields_ = [(n, ctypes.c_uint64) for n in _STAT_FIELDS] + [
        ("layer_misses", ctypes.c_uint64 * MAX_LAYERS),
    ]

    def as_dict(self, layers=None):
        d = {n: getattr(self, n) for n in _STAT_FIELDS}
        d["layer_misses"] = list(self.layer_misses)[:layers]
        return d


class Error(Exception):
    """A libess call failed: .code is the negative errno."""

    def __init__(self, code, message):
        super().__init__(f"{message} ({-code})")
        self.code = code
        self.message = message


_lib = None


def load_library(path=None):
    """Load libess once; path overrides the search."""
    global _lib
    if _lib is not None and path is None:
        return _lib
    candidates = []
    if path:
        candidates.append(path)
    elif os.environ.get("ESS_LIB"):
        candidates.append(os.environ["ESS_LIB"])
    else:
        here = os.path.dirname(os.path.abspath(__file__))
        candidates.append(os.path.join(here, "..", "build", "libess.so.0"))
        found = ctypes.util.find_library("ess")
        candidates.append(found or "libess.so.0")
    errors = []
    for c in candidates:
        try:
            lib = ctypes.CDLL(c)
            break
        except OSError as e:
            errors.append(f"{c}: {e}")
    else:
        raise OSError("libess not found (set ESS_LIB): " + "; ".join(errors))
    _declare(lib)
    _lib = lib
    return lib


def _declare(lib):
    P, U32, I32, U64, SZ = (ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int32,
                            ctypes.c_uint64, ctypes.c_size_t)
    pu32 = ctypes.POINTER(U32)
    sigs = {
        "ess_config_default": (None, [ctypes.POINTER(Config)]),
        "ess_create": (ctypes.c_int, [ctypes.POINTER(Config), ctypes.POINTER(P),
                                      ctypes.c_char_p, SZ]),
        "ess_destroy": (None, [P]),
        "ess_region_destroy": (ctypes.c_int, [ctypes.c_char_p]),
        "ess_pool_provider": (ctypes.c_char_p, [P]),
        "ess_errmsg": (ctypes.c_char_p, [P]),
        "ess_strerror": (ctypes.c_char_p, [ctypes.c_int]),
        "ess_policy_names": (ctypes.POINTER(ctypes.c_char_p), []),
        "ess_request_add": (ctypes.c_int, [P, U64, pu32]),
        "ess_request_remove": (ctypes.c_int, [P, U32]),
        "ess_request_find": (ctypes.c_int, [P, U64, pu32]),
        "ess_request_tokens": (ctypes.c_int, [P, U32, U32, pu32]),
        "ess_ingest": (ctypes.c_int, [P, U32, U32, U32, U32, P]),
        "ess_warmup": (ctypes.c_int, [P, U32, U32, ctypes.POINTER(I32), U32]),
        "ess_append": (ctypes.c_int, [P, U32, U32, pu32, P, P]),
        "ess_resolve": (ctypes.c_int, [P, U32, U32, pu32, P, P, P]),
        "ess_sync": (ctypes.c_int, [P, P]),
        "ess_hot_layer": (P, [P, U32]),
        "ess_host_row": (P, [P, U32, U32, U32]),
        "ess_mem_alloc": (P, [P, SZ]),
        "ess_mem_free": (None, [P, P]),
        "ess_mem_to_backend": (ctypes.c_int, [P, P, P, SZ, P]),
        "ess_mem_to_host": (ctypes.c_int, [P, P, P, SZ, P]),
        "ess_stats_get": (ctypes.c_int, [P, ctypes.POINTER(Stats)]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args


def policy_names():
    lib = load_library()
    arr = lib.ess_policy_names()
    out, i = [], 0
    while arr[i]:
        out.append(arr[i].decode())
        i += 1
    return out


def _ptr(x):
    """A raw address from an int, a tensor, an array or a ctypes object."""
    if x is None:
        return None
    if isinstance(x, int):
        return x
    if hasattr(x, "data_ptr"):                      # torch.Tensor
        return x.data_ptr()
    if hasattr(x, "__cuda_array_interface__"):      # CuPy, Numba, ...
        return x.__cuda_array_interface__["data"][0]
    if hasattr(x, "__array_interface__"):           # NumPy
        return x.__array_interface__["data"][0]
    if isinstance(x, (ctypes.Array, ctypes.Structure)):
        return ctypes.addressof(x)
    if isinstance(x, bytearray):
        return ctypes.addressof((ctypes.c_char * len(x)).from_buffer(x))
    raise TypeError(f"cannot take the address of a {type(x).__name__}")


def _stream(s):
    if s is None or isinstance(s, int):
        return s or None
    if hasattr(s, "cuda_stream"):                   # torch.cuda.Stream
        return s.cuda_stream
    if hasattr(s, "ptr"):                           # cupy.cuda.Stream
        return s.ptr
    raise TypeError(f"not a CUDA stream: {type(s).__name__}")


def _u32s(seq):
    seq = list(seq)
    return (ctypes.c_uint32 * len(seq))(*seq), len(seq)


class Context:
    """One libess context (see include/ess/ess.h for the semantics)."""

    def __init__(self, *, layers=None, entry_bytes=None, topk=None, slots=None,
                 max_requests=None, max_tokens=None, pool_bytes=None,
                 extent_tokens=None, policy=None, pool="auto", backend="cpu",
                 device=0, numa_node=-1, region_name=None, data_check=False,
                 no_heat=False, no_stat=False, pool_locked=False,
                 fetch_ce=False, lib=None):
        self._lib = load_library(lib)
        cfg = Config()
        self._lib.ess_config_default(ctypes.byref(cfg))
        for name, val in (("layers", layers), ("entry_bytes", entry_bytes),
                          ("topk", topk), ("slots", slots),
                          ("max_requests", max_requests),
                          ("max_tokens", max_tokens), ("pool_bytes", pool_bytes),
                          ("extent_tokens", extent_tokens)):
            if val is not None:
                setattr(cfg, name, val)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {sorted(BACKENDS)}")
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {sorted(POOLS)}")
        self._policy = policy.encode() if policy else None
        self._region = region_name.encode() if region_name else None
        cfg.policy = self._policy
        cfg.region_name = self._region
        cfg.backend = BACKENDS[backend]
        cfg.pool = POOLS[pool]
        cfg.device = device
        cfg.numa_node = numa_node
        if data_check:
            cfg.flags |= CFG_DATA_CHECK
        if no_heat:
            cfg.flags |= CFG_NO_HEAT
        if no_stat:
            cfg.flags |= CFG_NO_STAT
        if pool_locked:
            cfg.flags |= CFG_POOL_LOCKED
        if fetch_ce:
            cfg.flags |= CFG_FETCH_CE
        err = ctypes.create_string_buffer(512)
        h = ctypes.c_void_p()
        rc = self._lib.ess_create(ctypes.byref(cfg), ctypes.byref(h), err, len(err))
        if rc:
            raise Error(rc, err.value.decode(errors="replace"))
        self._h = h
        self.config = cfg

    # lifetime
    def close(self):
        if getattr(self, "_h", None):
            self._lib.ess_destroy(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _check(self, rc):
        if rc:
            raise Error(rc, self._lib.ess_errmsg(self._h).decode(errors="replace"))

    @property
    def pool_provider(self):
        return self._lib.ess_pool_provider(self._h).decode()

    # requests
    def add_request(self, tag):
        r = ctypes.c_uint32()
        self._check(self._lib.ess_request_add(self._h, tag, ctypes.byref(r)))
        return r.value

    def remove_request(self, req):
        self._check(self._lib.ess_request_remove(self._h, req))

    def find_request(self, tag):
        r = ctypes.c_uint32()
        self._check(self._lib.ess_request_find(self._h, tag, ctypes.byref(r)))
        return r.value

    def tokens(self, req, layer):
        n = ctypes.c_uint32()
        self._check(self._lib.ess_request_tokens(self._h, req, layer, ctypes.byref(n)))
        return n.value

    def ingest(self, req, layer, rows, ntokens=None, first_token=None):
        """Prefill rows (host memory): bytes-like, or an address with ntokens."""
        eb = self.config.entry_bytes
        if isinstance(rows, (bytes, bytearray, memoryview)):
            buf = bytes(rows)
            if len(buf) % eb:
                raise ValueError(f"rows must be a multiple of {eb} bytes")
            ntokens = len(buf) // eb
            addr = ctypes.cast(ctypes.c_char_p(buf), ctypes.c_void_p).value
        else:
            if ntokens is None:
                raise ValueError("ntokens is needed with an address")
            buf, addr = None, _ptr(rows)
        if first_token is None:
            first_token = self.tokens(req, layer)
        self._check(self._lib.ess_ingest(self._h, req, layer, first_token, ntokens, addr))
        del buf

    def warmup(self, req, layer, tokens):
        tokens = list(tokens)
        arr = (ctypes.c_int32 * len(tokens))(*tokens)
        self._check(self._lib.ess_warmup(self._h, req, layer, arr, len(tokens)))

    # the per-layer path (backend memory, queued on a stream)
    def append(self, layer, reqs, rows, stream=None):
        arr, n = _u32s(reqs)
        self._check(self._lib.ess_append(self._h, layer, n, arr, _ptr(rows), _stream(stream)))

    def resolve(self, layer, reqs, topk, slots_out, stream=None):
        arr, n = _u32s(reqs)
        self._check(self._lib.ess_resolve(self._h, layer, n, arr, _ptr(topk),
                                          _ptr(slots_out), _stream(stream)))

    def sync(self, stream=None):
        self._check(self._lib.ess_sync(self._h, _stream(stream)))

    def hot_layer(self, layer):
        p = self._lib.ess_hot_layer(self._h, layer)
        if not p:
            self._check(-22)
        return p

    def host_row(self, req, layer, token):
        p = self._lib.ess_host_row(self._h, req, layer, token)
        if not p:
            raise Error(-22, f"no row for token {token} of request {req} in layer {layer}")
        return ctypes.string_at(p, self.config.entry_bytes)

    # backend memory, for callers without their own allocator
    def mem_alloc(self, nbytes):
        p = self._lib.ess_mem_alloc(self._h, nbytes)
        if not p:
            self._check(-12)
        return p

    def mem_free(self, ptr):
        self._lib.ess_mem_free(self._h, ptr)

    def to_backend(self, dst, src, nbytes, stream=None):
        self._check(self._lib.ess_mem_to_backend(self._h, _ptr(dst), _ptr(src), nbytes, _stream(stream)))

    def to_host(self, dst, src, nbytes, stream=None):
        self._check(self._lib.ess_mem_to_host(self._h, _ptr(dst), _ptr(src), nbytes, _stream(stream)))

    def stats(self):
        st = Stats()
        self._check(self._lib.ess_stats_get(self._h, ctypes.byref(st)))
        return st.as_dict(self.config.layers)
