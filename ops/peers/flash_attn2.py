"""flash_attn2.py -- the flash family through FlashAttention 2's flash_attn_func.

It takes seqbench's token-major [B,N,H,D] tensors as they are (no copy),
GQA natively, and aligns its causal mask bottom-right as seqbench does
(FlashAttention >= 2.1; older releases align it top-left, so they run causal
only where N == Nk). A sliding window W is its window_size = (W - 1, 0);
sink tokens it has no argument for (skipped). fp16 and bf16; head dims as
its kernels allow (it raises otherwise, and the row says why).
"""
import peerlib

DISTS = ("torch", "numpy", "flash-attn")


def prepare(case):
    import flash_attn
    import torch
    from flash_attn import flash_attn_func

    s = case.shape
    numerics = peerlib.torch_numerics(torch)
    major_minor = tuple(int(x) for x in flash_attn.__version__.split(".")[:2])
    if s["causal"] and s["N"] != s["Nk"] and s["N"] > 1 and major_minor < (2, 1):
        raise peerlib.Unsupported("flash-attn %s aligns causal top-left; N != Nk needs >= 2.1"
                                  % flash_attn.__version__)
    if s["D"] != s["Dv"]:
        raise peerlib.Unsupported("flash_attn_func takes one head dim (D = Dv)")
    q, k, v = (peerlib.to_torch(torch, case, n) for n in ("q", "k", "v"))
    causal = bool(s["causal"]) and s["N"] > 1
    kwargs, info = window_kwargs(case)
    info["causal"] = "bottom-right" if causal else "none"
    return Prepared(torch, lambda: flash_attn_func(q, k, v, softmax_scale=case.scale, causal=causal,
                                                   **kwargs),
                    case.device, info, numerics)


def window_kwargs(case):
    """FlashAttention's window_size = (W - 1, 0) for seqbench's window W (key
    j seen iff i + Nk - N - W < j <= i + Nk - N); no sinks."""
    window, sink = peerlib.window_of(case)
    if window <= 0:
        return {}, {}
    if sink > 0:
        raise peerlib.Unsupported("FlashAttention has no sink tokens (window_size only)")
    return {"window_size": (window - 1, 0)}, {"window_size": [window - 1, 0]}


class Prepared:
    """A call that returns the output (or a tuple led by it)."""

    def __init__(self, torch, fn, device, info, numerics):
        self.torch, self.fn, self.device, self.info, self.numerics = torch, fn, device, info, numerics
        self.out = None

    def call(self):
        with self.torch.inference_mode():
            out = self.fn()
        self.out = out[0] if isinstance(out, tuple) else out

    def output(self):
        return peerlib.to_numpy(self.out), None
