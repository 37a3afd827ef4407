"""fla_chunk.py -- the recurrent families through flash-linear-attention's
chunked Triton kernels (fla.ops):

    linear       chunk_linear_attn(normalize=False)     linear, gate=none
    simple_gla   chunk_simple_gla, g [B,N,Hv]           gated, gate=head
    gla          chunk_gla, g [B,N,Hv,D]                gated, gate=key
    delta        chunk_delta_rule, beta                 delta, gate=none
    gated_delta  chunk_gated_delta_rule, g, beta        delta, gate=head

seqbench's recurrent layout is flash-linear-attention's: q, k [B,N,H,D],
v [B,N,Hv,Dv], gates in natural-log space, the state [B,Hv,D,Dv] fp32, value
head j reading query/key head j / (Hv/H). chunk_gla and
chunk_gated_delta_rule take Hv > H as it is (GVA); for the others q and k
are repeated to Hv heads in prepare (untimed; info says so). The library
picks its own chunk length (64); seqbench's FLOP count uses the case's.
Keys arrive L2-normalised (seqbench's inputs), so no in-kernel norm.
"""
import inspect

import peerlib

DISTS = ("torch", "numpy", "triton", "fla-core")

#          family    gate    module                         function
VARIANTS = {
    "linear": ("linear", "none", "fla.ops.linear_attn", "chunk_linear_attn"),
    "simple_gla": ("gated", "head", "fla.ops.simple_gla", "chunk_simple_gla"),
    "gla": ("gated", "key", "fla.ops.gla", "chunk_gla"),
    "delta": ("delta", "none", "fla.ops.delta_rule", "chunk_delta_rule"),
    "gated_delta": ("delta", "head", "fla.ops.gated_delta_rule", "chunk_gated_delta_rule"),
}
GVA = ("gla", "gated_delta")


def prepare(case):
    import importlib

    import torch

    family, gate, modname, fname = VARIANTS[case.variant]
    s = case.shape
    if case.family != family or s.get("gate", "none") != gate:
        raise peerlib.Unsupported("%s computes %s with gate=%s" % (fname, family, gate))
    numerics = peerlib.torch_numerics(torch)
    fn = getattr(importlib.import_module(modname), fname)
    params = inspect.signature(fn).parameters
    t = {n: peerlib.to_torch(torch, case, n) for n in case.inputs if n != "h0"}
    info = {"function": fname}
    if s["Hv"] != s["H"] and case.variant not in GVA:
        g = s["Hv"] // s["H"]
        t["q"], t["k"] = (t[n].repeat_interleave(g, dim=2) for n in ("q", "k"))
        info["heads"] = "q, k repeated to Hv in prepare"
    kwargs = {"scale": case.scale, "output_final_state": bool(s["state"])}
    if s["state"]:
        kwargs["initial_state"] = peerlib.to_torch(torch, case, "h0", torch.float32)
    if "head_first" in params:                  # releases before 0.2 defaulted to [B,H,N,D]
        kwargs["head_first"] = False
    if case.variant == "linear":
        kwargs["normalize"] = False
    args = [t["q"], t["k"], t["v"]]
    if "g" in t:
        kwargs["g"] = t["g"]
    if "beta" in t:
        kwargs["beta"] = t["beta"]
    return Prepared(torch, lambda: fn(*args, **kwargs), case.device, info, numerics)


class Prepared:
    def __init__(self, torch, fn, device, info, numerics):
        self.torch, self.fn, self.device, self.info, self.numerics = torch, fn, device, info, numerics
        self.out = self.final = None

    def call(self):
        with self.torch.inference_mode():
            self.out, self.final = self.fn()

    def output(self):
        final = None if self.final is None else peerlib.to_numpy(self.final)
        return peerlib.to_numpy(self.out), final
