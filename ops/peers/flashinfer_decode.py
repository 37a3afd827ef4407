"""flashinfer_decode.py -- flash decode (N = 1) through FlashInfer.

single: single_decode_with_kv_cache for one sequence (B = 1): q [H,D], the
  cache k, v [Nk,Hkv,D] in its NHD layout, which is seqbench's [B,Nk,Hkv,D]
  with B = 1 (a view).
paged: BatchDecodeWithPagedKVCacheWrapper over a paged copy of the cache
  (16-token pages, [pages,2,16,Hkv,D]) built in prepare with its page table
  and plan(), never timed.

A decode row sees every key under seqbench's bottom-right mask, so causal or
not is the same function here. FlashInfer takes one head dim (D = Dv).
"""
import inspect

import peerlib

DISTS = ("torch", "numpy", "flashinfer-python")
PAGE = 16
WORKSPACE_BYTES = 128 << 20


def prepare(case):
    import flashinfer
    import torch

    s = case.shape
    numerics = peerlib.torch_numerics(torch)
    if s["N"] != 1:
        raise peerlib.Unsupported("FlashInfer decode takes one query token (N = 1)")
    if s["D"] != s["Dv"]:
        raise peerlib.Unsupported("FlashInfer takes one head dim (D = Dv)")
    if peerlib.window_of(case)[0] > 0:
        raise peerlib.Unsupported("a sliding window with sinks is not passed to FlashInfer here")
    q, k, v = (peerlib.to_torch(torch, case, n) for n in ("q", "k", "v"))
    B, H, Hkv, D, Nk = s["B"], s["H"], s["Hkv"], s["D"], s["Nk"]
    info = {"variant": case.variant}
    if case.variant == "single":
        if B != 1:
            raise peerlib.Unsupported("single_decode_with_kv_cache takes one sequence (B = 1)")
        q1, k1, v1 = q[0, 0], k[0], v[0]

        def fn():
            return flashinfer.single_decode_with_kv_cache(q1, k1, v1, kv_layout="NHD",
                                                          sm_scale=case.scale)
        return Prepared(torch, fn, (1, 1, H, D), case.device, info, numerics)

    pages = (Nk + PAGE - 1) // PAGE
    cache = torch.zeros(B * pages, 2, PAGE, Hkv, D, dtype=q.dtype, device=q.device)
    for b in range(B):
        for i, kv in enumerate((k, v)):
            flat = cache[b * pages:(b + 1) * pages, i].reshape(pages * PAGE, Hkv, D)
            flat[:Nk] = kv[b]
    i32 = dict(dtype=torch.int32, device=q.device)
    indptr = torch.arange(B + 1, **i32) * pages
    indices = torch.arange(B * pages, **i32)
    last = torch.full((B,), Nk - (pages - 1) * PAGE, **i32)
    workspace = torch.empty(WORKSPACE_BYTES, dtype=torch.uint8, device=q.device)
    wrapper = flashinfer.BatchDecodeWithPagedKVCacheWrapper(workspace, "NHD")
    plan = inspect.signature(wrapper.plan).parameters
    extra = {key: q.dtype for key in ("q_data_type", "kv_data_type") if key in plan}
    if "sm_scale" in plan:
        extra["sm_scale"] = case.scale
    wrapper.plan(indptr, indices, last, H, Hkv, D, PAGE, **extra)
    q2 = q[:, 0]                                            # [B,H,D]
    info["page"] = PAGE
    run_scale = {} if "sm_scale" in plan else {"sm_scale": case.scale}
    return Prepared(torch, lambda: wrapper.run(q2, cache, **run_scale), (B, 1, H, D), case.device,
                    info, numerics)


class Prepared:
    def __init__(self, torch, fn, shape, device, info, numerics):
        self.torch, self.fn, self.shape = torch, fn, shape
        self.device, self.info, self.numerics = device, info, numerics
        self.out = None

    def call(self):
        with self.torch.inference_mode():
            self.out = self.fn()

    def output(self):
        return peerlib.to_numpy(self.out.reshape(self.shape)), None
