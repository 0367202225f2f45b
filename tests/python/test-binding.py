#!/usr/bin/env python3
# The Python binding (python/ess.py) on the CPU backend: its structs match
# the C ones byte for byte, and a resolve through it puts the right rows in
# the slots.  TAP.
import ctypes
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.join(HERE, "..", "..")
BUILD = os.environ.get("BUILD", os.path.join(TOP, "build"))
sys.path.insert(0, os.path.join(TOP, "python"))
os.environ.setdefault("ESS_LIB", os.path.join(BUILD, "libess.so.0"))
os.environ.setdefault("ESS_STAT", "0")
import ess  # noqa: E402

n = 0
failed = 0


def t(cond, desc):
    global n, failed
    n += 1
    if not cond:
        failed += 1
    print(f"{'ok' if cond else 'not ok'} {n} - {desc}")


print("1..15")

# 1-2: the ctypes mirrors have the C layout (sizes and every offset).
probe = r"""
#include <stddef.h>
#include <stdio.h>
#include "ess/ess.h"
#define O(s, f) printf(#f " %zu\n", offsetof(struct s, f))
int main(void) {
    printf("config %zu\nstats %zu\n", sizeof(struct ess_config), sizeof(struct ess_stats));
    O(ess_config, policy); O(ess_config, pool_bytes); O(ess_config, region_name);
    O(ess_config, backend); O(ess_config, device);
    O(ess_stats, pool_unlocked); O(ess_stats, layer_misses);
    return 0;
}
"""
with tempfile.TemporaryDirectory() as d:
    src, exe = os.path.join(d, "p.c"), os.path.join(d, "p")
    open(src, "w").write(probe)
    subprocess.run(["cc", "-std=c11", "-I", os.path.join(TOP, "include"), "-o", exe, src], check=True)
    out = dict(line.split() for line in subprocess.run([exe], capture_output=True, text=True).stdout.splitlines())
t(int(out["config"]) == ctypes.sizeof(ess.Config) and
  all(int(out[f]) == getattr(ess.Config, f).offset for f in ("policy", "pool_bytes", "region_name", "backend", "device")),
  "Config has the layout of struct ess_config")
t(int(out["stats"]) == ctypes.sizeof(ess.Stats) and
  all(int(out[f]) == getattr(ess.Stats, f).offset for f in ("pool_unlocked", "layer_misses")),
  "Stats has the layout of struct ess_stats")

# 3: bad configuration: a clear error with the errno.
try:
    ess.Context(layers=2, topk=64, slots=32, max_requests=2, max_tokens=1024,
                pool_bytes=8 << 20, pool="fallback")
    t(False, "slots < topk refused")
except ess.Error as e:
    t(e.code == -22 and "slots" in e.message, f"slots < topk refused: {e.message}")

E, K, S, L, TOK = 64, 32, 96, 2, 512
ctx = ess.Context(layers=L, entry_bytes=E, topk=K, slots=S, max_requests=2,
                  max_tokens=TOK + 16, pool_bytes=8 << 20, pool="fallback",
                  backend="cpu", data_check=True)
t(ctx.pool_provider in ("hugetlb", "thp", "module"), f"context created on pool {ctx.pool_provider}")
t("lru" in ess.policy_names(), f"policies {ess.policy_names()}")

rng = random.Random(7)
rows = {l: bytes(rng.getrandbits(8) for _ in range(TOK * E)) for l in range(L)}
req = ctx.add_request(tag=42)
for l in range(L):
    ctx.ingest(req, l, rows[l])
t(ctx.tokens(req, 1) == TOK and ctx.find_request(42) == req, "ingest and find")
t(ctx.host_row(req, 1, 5) == rows[1][5 * E:6 * E], "host row reads back")

# resolve through backend memory allocated by libess
topk_b = ctx.mem_alloc(K * 4)
slots_b = ctx.mem_alloc(K * 4)
ctx.warmup(req, 0, range(K))
bad = 0
for step in range(5):
    toks = rng.sample(range(TOK), K)
    arr = (ctypes.c_int32 * K)(*toks)
    ctx.to_backend(topk_b, arr, K * 4)
    ctx.resolve(0, [req], topk_b, slots_b)
    ctx.sync()
    out = (ctypes.c_int32 * K)()
    ctx.to_host(out, slots_b, K * 4)
    hot = ctx.hot_layer(0)
    for tok, s in zip(toks, out):
        bad += ctypes.string_at(hot + s * E, E) != rows[0][tok * E:(tok + 1) * E]
t(bad == 0, f"5 resolves: every slot holds its row ({bad} wrong)")
st = ctx.stats()
t(st["lookups"] == 5 * K and st["hits"] + st["misses"] == st["lookups"] and st["data_check_failures"] == 0,
  f"counters: {st['lookups']} lookups, {st['hits']} hits, {st['misses']} misses")

# 10-11: bad input raises with libess's message and changes nothing
try:
    arr = (ctypes.c_int32 * K)(*([TOK + 100] + list(range(K - 1))))
    ctx.to_backend(topk_b, arr, K * 4)
    ctx.resolve(0, [req], topk_b, slots_b)
    t(False, "a token beyond the sequence is refused")
except ess.Error as e:
    t(e.code == -22, f"a token beyond the sequence is refused: {e.message}")
t(ctx.stats()["lookups"] == st["lookups"], "a refused resolve counts nothing")
try:
    ctx.resolve(0, [7], topk_b, slots_b)
    t(False, "an unknown request is refused")
except ess.Error as e:
    t(e.code == -22, f"an unknown request is refused: {e.message}")
ctx.mem_free(topk_b)
ctx.mem_free(slots_b)
ctx.close()

# 13-14: no_stat=True publishes no statistics segment; the same context
# without it does (a private ESS_STAT_DIR, publishing switched on).
with tempfile.TemporaryDirectory() as sd:
    old = {k: os.environ.get(k) for k in ("ESS_STAT_DIR", "ESS_STAT")}
    os.environ["ESS_STAT_DIR"] = sd
    os.environ["ESS_STAT"] = "1"
    try:
        c = ess.Context(layers=1, entry_bytes=E, topk=K, slots=S, max_requests=1,
                        max_tokens=TOK, pool_bytes=1 << 22, no_stat=True)
        quiet = os.listdir(sd)
        c.close()
        c = ess.Context(layers=1, entry_bytes=E, topk=K, slots=S, max_requests=1,
                        max_tokens=TOK, pool_bytes=1 << 22)
        loud = os.listdir(sd)
        c.close()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    t(quiet == [], f"no_stat=True: no segment in ESS_STAT_DIR ({quiet})")
    t(len(loud) == 1, f"without it: one segment ({loud})")

# 15: fetch_ce=True sets ESS_CFG_FETCH_CE, which libess accepts; the CPU
# backend ignores it (a context is made and closed).
try:
    c = ess.Context(layers=1, entry_bytes=E, topk=K, slots=S, max_requests=1,
                    max_tokens=TOK, pool_bytes=1 << 22, fetch_ce=True)
    c.close()
    t(True, "fetch_ce=True: accepted (the CPU backend ignores it)")
except ess.Error as e:
    t(False, f"fetch_ce=True: accepted ({e.message})")
sys.exit(1 if failed else 0)
