"""ssm_peers.py -- the ssm family's peers (reference/ssm.h has the math):

    mamba_s6   mamba_ssm's selective_scan_fn: Mamba's own CUDA selective scan,
               variant s6. seqbench's s6 layout is Mamba's (u, delta, z
               [B,Dm,L]; B, C [B,Ds,L] or [B,G,Ds,L]; A [Dm,Ds]; D [Dm]);
               A and D go in fp32 as Mamba keeps them (exact: the values
               are the dtype's). delta arrives after softplus, so no
               delta_bias and delta_softplus=False. selective_scan_fn takes
               no initial state: a case with state=1 is skipped.
    fla_ssd    flash-linear-attention's chunk_simple_gla on the ssd variant's
               recurrence, which is simple GLA's (q = C, k = B, v = dt·x,
               g = dt·A, scale 1): S_t = e^{g_t} S_{t-1} + k_tᵀ v_t,
               y_t = q_t S_t. Prepared once, untimed (info says so): C and B
               repeated from G groups to H heads, v = dt·x in the dtype,
               g in fp32, h0 [B,H,P,Ds] transposed to fla's [B,H,Ds,P] (and
               the final state back). Mamba-2's D·x and z are not part of
               chunk_simple_gla: a case with skip or z is skipped.
"""
import peerlib

DISTS = ("torch", "numpy", "triton", "mamba-ssm", "fla-core")


def prepare(case):
    import torch

    s = case.shape
    want = {"mamba_s6": "s6", "fla_ssd": "ssd"}[case.variant]
    if s.get("variant") != want:
        raise peerlib.Unsupported("%s runs the %s variant only" % (case.variant, want))
    numerics = peerlib.torch_numerics(torch)
    if case.variant == "mamba_s6":
        return prepare_mamba(torch, case, numerics)
    return prepare_fla(torch, case, numerics)


def prepare_mamba(torch, case, numerics):
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    if case.shape["state"]:
        raise peerlib.Unsupported("selective_scan_fn takes no initial state (h0)")
    t = {n: peerlib.to_torch(torch, case, n) for n in ("u", "delta", "B", "C")}
    A = peerlib.to_torch(torch, case, "A", torch.float32)
    D = peerlib.to_torch(torch, case, "D", torch.float32)
    z = peerlib.to_torch(torch, case, "z") if "z" in case.inputs else None
    info = {"function": "selective_scan_fn", "A, D": "fp32", "delta_softplus": False}

    def fn():
        return selective_scan_fn(t["u"], t["delta"], A, t["B"], t["C"], D, z=z,
                                 delta_bias=None, delta_softplus=False), None
    return Prepared(torch, fn, case.device, info, numerics)


def prepare_fla(torch, case, numerics):
    import inspect

    from fla.ops.simple_gla import chunk_simple_gla

    s = case.shape
    if s.get("skip") or s.get("z"):
        raise peerlib.Unsupported("chunk_simple_gla computes no D·x skip or z gate")
    rep = s["H"] // s["G"]
    x = peerlib.to_torch(torch, case, "x", torch.float32)
    dt = peerlib.to_torch(torch, case, "dt", torch.float32)
    A = peerlib.to_torch(torch, case, "A", torch.float32)
    dtype = peerlib.torch_dtype(torch, case.dtype)
    q = peerlib.to_torch(torch, case, "C").repeat_interleave(rep, dim=2)
    k = peerlib.to_torch(torch, case, "B").repeat_interleave(rep, dim=2)
    v = (x * dt[..., None]).to(dtype)
    g = (dt * A).contiguous()
    kwargs = {"scale": 1.0, "output_final_state": bool(s["state"])}
    if s["state"]:
        kwargs["initial_state"] = peerlib.to_torch(torch, case, "h0", torch.float32).transpose(-1, -2).contiguous()
    if "head_first" in inspect.signature(chunk_simple_gla).parameters:
        kwargs["head_first"] = False
    info = {"function": "chunk_simple_gla",
            "prepared": "q = C, k = B repeated to H heads; v = dt·x (%s); g = dt·A (fp32)" % case.dtype}

    def fn():
        o, ht = chunk_simple_gla(q, k, v, g=g, **kwargs)
        return o, ht
    return Prepared(torch, fn, case.device, info, numerics, final_transposed=True)


class Prepared:
    def __init__(self, torch, fn, device, info, numerics, final_transposed=False):
        self.torch, self.fn, self.device, self.info, self.numerics = torch, fn, device, info, numerics
        self.final_transposed = final_transposed
        self.out = self.final = None

    def call(self):
        with self.torch.inference_mode():
            self.out, self.final = self.fn()

    def output(self):
        final = self.final
        if final is not None and self.final_transposed:     # fla's [B,H,Ds,P] -> [B,H,P,Ds]
            final = final.transpose(-1, -2)
        return peerlib.to_numpy(self.out), None if final is None else peerlib.to_numpy(final)
