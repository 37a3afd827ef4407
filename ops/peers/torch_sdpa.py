"""torch_sdpa.py -- the flash family through PyTorch's scaled_dot_product_attention.

Variants pin a backend with torch.nn.attention.sdpa_kernel: flash, efficient,
cudnn, math on a GPU; cpu runs on the CPU with torch's own choice. q, k, v
are seqbench's token-major [B,N,H,D] tensors seen as [B,H,N,D] through a
transpose (a strided view, no copy); the output is transposed back when
fetched, never in the timed call.

The mask: seqbench's is aligned bottom-right (key j visible to query i iff
j <= i + Nk - N); PyTorch's is_causal is aligned top-left. They agree when
N == Nk, and with N == 1 every key is visible, so no mask is needed. Other
causal cases, and every case with a window and sinks, pass the mask
explicitly (a boolean one for a window, on every backend but flash, which
skips): efficient takes
torch.nn.attention.bias.causal_lower_right (its kernels apply it without a
mask tensor), math, cudnn and cpu a boolean [N,Nk] mask; flash takes no mask
and is skipped there. GQA (Hkv < H) goes in as enable_gqa where this torch
has it, else K and V are repeated to H heads in prepare (a copy, untimed;
info says so).
"""
import peerlib

DISTS = ("torch", "numpy")


def prepare(case):
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    s, variant = case.shape, case.variant
    numerics = peerlib.torch_numerics(torch)
    if variant == "cpu":
        torch.set_num_threads(case.threads)
    backend = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
               "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}.get(variant)
    q, k, v = (peerlib.to_torch(torch, case, n).transpose(1, 2) for n in ("q", "k", "v"))
    info = {"backend": variant}

    kwargs = {"scale": case.scale}
    N, Nk = s["N"], s["Nk"]
    window, sink = peerlib.window_of(case)
    if window > 0:
        if variant == "flash":
            raise peerlib.Unsupported("a sliding window and sinks: the FLASH backend takes no mask")
        mask = peerlib.visible_bottom_right(N, Nk, window, sink)
        kwargs["attn_mask"] = torch.from_numpy(mask).to(q.device)
        info["mask"] = "boolean bottom-right [N,Nk] with the window and sinks"
    elif not s["causal"] or N == 1:
        info["mask"] = "none" if not s["causal"] else "none (N = 1 sees every key)"
    elif N == Nk:
        kwargs["is_causal"] = True
        info["mask"] = "is_causal (top-left = bottom-right when N = Nk)"
    elif variant == "flash":
        raise peerlib.Unsupported("causal with N != Nk: PyTorch's is_causal is top-left and the "
                                  "FLASH backend takes no explicit mask")
    elif variant == "efficient":
        from torch.nn.attention.bias import causal_lower_right
        kwargs["attn_mask"] = causal_lower_right(N, Nk)
        info["mask"] = "causal_lower_right"
    else:
        mask = torch.from_numpy(peerlib.visible_bottom_right(N, Nk)).to(q.device)
        kwargs["attn_mask"] = mask
        info["mask"] = "boolean bottom-right [N,Nk]"

    if s["Hkv"] != s["H"]:
        # a builtin: no inspect.signature; its docstring names its arguments
        if "enable_gqa" in (F.scaled_dot_product_attention.__doc__ or ""):
            kwargs["enable_gqa"] = True
            info["gqa"] = "enable_gqa"
        else:
            g = s["H"] // s["Hkv"]
            k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
            info["gqa"] = "K, V repeated to H heads in prepare"
    return Prepared(torch, F, sdpa_kernel, backend, q, k, v, kwargs, case.device, info, numerics)


class Prepared:
    def __init__(self, torch, F, sdpa_kernel, backend, q, k, v, kwargs, device, info, numerics):
        self.torch, self.F, self.sdpa_kernel, self.backend = torch, F, sdpa_kernel, backend
        self.q, self.k, self.v, self.kwargs = q, k, v, kwargs
        self.device, self.info, self.numerics = device, info, numerics
        self.out = None

    def call(self):
        try:
            with self.torch.inference_mode():
                if self.backend is None:
                    self.out = self.F.scaled_dot_product_attention(self.q, self.k, self.v, **self.kwargs)
                else:
                    with self.sdpa_kernel([self.backend]):
                        self.out = self.F.scaled_dot_product_attention(self.q, self.k, self.v,
                                                                       **self.kwargs)
        except RuntimeError as e:
            # the pinned backend refuses this case (older and newer torch's words)
            if "No available kernel" in str(e) or "No viable backend" in str(e):
                raise peerlib.Unsupported("torch SDPA %s: %s" % (self.info["backend"],
                                                                 str(e).splitlines()[0][:160]))
            raise

    def output(self):
        return peerlib.to_numpy(self.out.transpose(1, 2)), None
