#!/usr/bin/env python3
# A PyTorch serving loop's use of libess, layer by layer: the indexer's
# top-k is a CUDA tensor, libess turns it into slot ids (also a CUDA tensor)
# on the loop's stream, and the attention kernel would read the hot buffer at
# those slots.  Here the rows in the slots are checked against the host copy.
#
#   python3 python/examples/resolve_torch.py [--steps N] [--backend cuda|cpu]
#
# Without torch or without a GPU it says so and exits 0 with "SKIP" (a TAP
# skip when run with --tap).
import argparse
import ctypes
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import ess  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--context", type=int, default=8192)
    ap.add_argument("--backend", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tap", action="store_true")
    a = ap.parse_args()

    def skip(why):
        print(f"1..0 # SKIP {why}" if a.tap else f"SKIP: {why}")
        sys.exit(0)

    try:
        import torch
    except ImportError:
        skip("PyTorch is not installed")
    if a.backend == "cuda" and not torch.cuda.is_available():
        skip("no CUDA device")
    dev = "cuda" if a.backend == "cuda" else "cpu"
    E, K, S = 656, 2048, 6144
    gen = torch.Generator().manual_seed(1)
    ctx = ess.Context(layers=a.layers, entry_bytes=E, topk=K, slots=S,
                      max_requests=a.requests, max_tokens=a.context + a.steps + 1,
                      pool_bytes=((a.requests * a.layers * (a.context + 512) * E) | ((2 << 20) - 1)) + 1,
                      pool="auto", backend=a.backend)
    stream = torch.cuda.current_stream() if dev == "cuda" else None
    reqs, host = [], {}
    for r in range(a.requests):
        q = ctx.add_request(tag=100 + r)
        reqs.append(q)
        for layer in range(a.layers):
            rows = torch.randint(0, 256, (a.context, E), dtype=torch.uint8, generator=gen)
            host[(q, layer)] = rows
            ctx.ingest(q, layer, rows.numpy().tobytes() if hasattr(rows, "numpy") else bytes(rows.tolist()))
            ctx.warmup(q, layer, torch.randperm(a.context, generator=gen)[:K].tolist())
    checked = bad = 0
    for step in range(a.steps):
        for layer in range(a.layers):
            # The indexer's output: top-k token ids per request, on the GPU.
            topk = torch.stack([torch.randperm(a.context, generator=gen)[:K]
                                for _ in reqs]).to(torch.int32).to(dev)
            slots = torch.full_like(topk, -7)
            ctx.resolve(layer, reqs, topk, slots, stream)
            # ... the sparse attention kernel would run here, on `stream`,
            # reading rows ctx.hot_layer(layer) + slots * E ...
            ctx.sync(stream)
            hot_bytes = S * a.requests * E
            hot = (ctypes.c_uint8 * hot_bytes)()
            ctx.to_host(hot, ctx.hot_layer(layer), hot_bytes, stream)
            ctx.sync(stream)
            hot_t = torch.frombuffer(hot, dtype=torch.uint8).view(-1, E)
            s_cpu, t_cpu = slots.cpu().long(), topk.cpu().long()
            for i, q in enumerate(reqs):
                want = host[(q, layer)][t_cpu[i]]
                got = hot_t[s_cpu[i]]
                bad += int((want != got).any(dim=1).sum())
                checked += K
    st = ctx.stats()
    ctx.close()
    ok = bad == 0 and st["data_check_failures"] == 0
    if a.tap:
        print("1..1")
        print(f"{'ok' if ok else 'not ok'} 1 - {checked} slots checked on {a.backend}, {bad} wrong")
    else:
        print(f"{checked} slots checked against the host copy on {a.backend}: {bad} wrong; "
              f"hits {st['hits']}, misses {st['misses']}, {st['bytes_h2d'] / 1e6:.1f} MB fetched")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
