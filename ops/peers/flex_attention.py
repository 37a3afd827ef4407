"""flex_attention.py -- the sparse family through PyTorch's FlexAttention
(torch.nn.attention.flex_attention), compiled with torch.compile as its
documentation asks.

The block mask: seqbench's block_mask [mB, mH, QB, KB] (1 = computed, bq x bk
blocks) becomes FlexAttention's BlockMask with BLOCK_SIZE = (bq, bk) through
BlockMask.from_kv_blocks, in prepare (as create_block_mask is outside a
model's timed attention call): per query block the computed key blocks,
split into full blocks (every pair visible: no mask_mod evaluated) and
partial ones (the causal diagonal, aligned bottom-right as seqbench's: key j
visible to query i iff j <= i + Nk - N), whose pairs mask_mod decides. A
query row with no visible key is 0 in FlexAttention as in seqbench. The mask
is expanded over the batch and heads it broadcasts over (a view).

q, k, v are seqbench's token-major [B,N,H,D] tensors seen as [B,H,N,D] (a
transpose, no copy); GQA through enable_gqa. The output is transposed back
when fetched, never in the timed call.
"""
import inspect

import numpy as np

import peerlib

DISTS = ("torch", "numpy")


def block_lists(mask, which):
    """(num [mB,mH,QB], indices [mB,mH,QB,KB]) of the blocks where mask and
    which hold, each row's block indices first and ascending."""
    sel = mask & which
    num = sel.sum(-1).astype(np.int32)
    # stable argsort on not-selected puts the selected blocks first, in order
    idx = np.argsort(~sel, axis=-1, kind="stable").astype(np.int32)
    return num, idx


def prepare(case):
    import torch
    from torch.nn.attention.flex_attention import BlockMask, flex_attention

    s = case.shape
    numerics = peerlib.torch_numerics(torch)
    if case.device == "cpu":
        torch.set_num_threads(case.threads)
    B, H, N, Nk, bq, bk = s["B"], s["H"], s["N"], s["Nk"], s["bq"], s["bk"]
    causal, shift = bool(s["causal"]), Nk - N
    mask = case.inputs["block_mask"] != 0                          # [mB, mH, QB, KB]
    QB, KB = mask.shape[2], mask.shape[3]
    # a block is full when its every pair is visible: all its keys up to
    # the first row's diagonal (and no padded row or key: partial blocks at
    # the ends go through mask_mod, which sees the real lengths)
    qb = np.arange(QB)[:, None]
    kb = np.arange(KB)[None, :]
    last_key = np.minimum((kb + 1) * bk, Nk) - 1
    full = (last_key <= qb * bq + shift) if causal else np.ones((QB, KB), bool)
    full &= ((qb + 1) * bq <= N) & ((kb + 1) * bk <= Nk)
    kv_num, kv_idx = block_lists(mask, ~full[None, None])
    full_num, full_idx = block_lists(mask, full[None, None])
    dev = "cpu" if case.device == "cpu" else case.device

    def as_torch(a):
        t = torch.from_numpy(np.ascontiguousarray(a)).to(dev)
        return t.expand(B, H, *t.shape[2:])                         # broadcast over B, H

    def mask_mod(b, h, q_idx, kv_idx):
        seen = kv_idx < Nk
        return seen & (kv_idx <= q_idx + shift) if causal else seen

    extra = {}
    if "seq_lengths" in inspect.signature(BlockMask.from_kv_blocks).parameters:
        extra["seq_lengths"] = (N, Nk)      # lengths that are no multiple of a block
    elif N % bq or Nk % bk:
        raise peerlib.Unsupported("this torch's BlockMask takes no seq_lengths: N and Nk must be "
                                  "multiples of the block sizes")
    block_mask = BlockMask.from_kv_blocks(as_torch(kv_num), as_torch(kv_idx), as_torch(full_num),
                                          as_torch(full_idx), BLOCK_SIZE=(bq, bk),
                                          mask_mod=mask_mod, **extra)
    q, k, v = (peerlib.to_torch(torch, case, n).transpose(1, 2) for n in ("q", "k", "v"))
    kwargs = {"block_mask": block_mask, "scale": case.scale}
    info = {"block_size": [bq, bk], "mask_mod": "causal bottom-right" if causal else "key < Nk",
            "full_blocks": int(full_num.sum()), "partial_blocks": int(kv_num.sum())}
    if s["Hkv"] != H:
        kwargs["enable_gqa"] = True
        info["gqa"] = "enable_gqa"
    flex = torch.compile(flex_attention, dynamic=False)
    info["compiled"] = "torch.compile(flex_attention)"
    return Prepared(torch, lambda: flex(q, k, v, **kwargs), case.device, info, numerics)


class Prepared:
    def __init__(self, torch, fn, device, info, numerics):
        self.torch, self.fn, self.device, self.info, self.numerics = torch, fn, device, info, numerics
        self.out = None

    def call(self):
        with self.torch.inference_mode():
            self.out = self.fn()

    def output(self):
        return peerlib.to_numpy(self.out.transpose(1, 2)), None
