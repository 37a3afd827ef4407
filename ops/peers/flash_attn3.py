"""flash_attn3.py -- the flash family through FlashAttention 3 (Hopper),
flash_attn_interface.flash_attn_func: token-major [B,N,H,D] tensors as they
are, GQA natively, causal aligned bottom-right. Releases differ in whether it
returns the output or (output, lse); either is taken.
"""
import flash_attn2
import peerlib

DISTS = ("torch", "numpy", "flash_attn_3")


def prepare(case):
    import torch
    from flash_attn_interface import flash_attn_func

    s = case.shape
    numerics = peerlib.torch_numerics(torch)
    if s["D"] != s["Dv"]:
        raise peerlib.Unsupported("flash_attn_func (FA3) here takes D = Dv")
    q, k, v = (peerlib.to_torch(torch, case, n) for n in ("q", "k", "v"))
    causal = bool(s["causal"]) and s["N"] > 1
    kwargs, info = flash_attn2.window_kwargs(case)
    info["causal"] = "bottom-right" if causal else "none"
    return flash_attn2.Prepared(
        torch, lambda: flash_attn_func(q, k, v, softmax_scale=case.scale, causal=causal, **kwargs),
        case.device, info, numerics)
