"""numpy_ssm.py -- test adapters of the ssm family (tests/ssm.sh): the s6
and ssd variants' recurrences in float64 NumPy, from the shape fields the
prepare request carries (shape.variant, Dm, Ds, G, P, z, skip, state), so
a peer of the ssm family sees its case as bench does. The variant says
which variant the adapter computes; another variant is skipped."""
import numpy as np

import peerlib

DISTS = ("numpy",)


def silu(z):
    return z / (1 + np.exp(-z))


def s6(case):
    s, x = case.shape, {n: a.astype(np.float64) for n, a in case.inputs.items()}
    B, L, Dm, Ds, G = s["B"], s["N"], s["Dm"], s["Ds"], s["G"]
    Bm, Cm = x["B"].reshape(B, G, Ds, L), x["C"].reshape(B, G, Ds, L)
    grp = np.arange(Dm) // (Dm // G)
    h = x["h0"].copy() if s["state"] else np.zeros((B, Dm, Ds))
    y = np.empty((B, Dm, L))
    for t in range(L):
        d = x["delta"][:, :, t]
        h = np.exp(d[..., None] * x["A"]) * h + (d * x["u"][:, :, t])[..., None] * Bm[..., t][:, grp]
        y[:, :, t] = (Cm[..., t][:, grp] * h).sum(-1) + x["D"] * x["u"][:, :, t]
    if s["z"]:
        y *= silu(x["z"])
    return y, h if s["state"] else None


def ssd(case):
    s, x = case.shape, {n: a.astype(np.float64) for n, a in case.inputs.items()}
    B, L, H, P, Ds, G = s["B"], s["N"], s["H"], s["P"], s["Ds"], s["G"]
    grp = np.arange(H) // (H // G)
    S = x["h0"].copy() if s["state"] else np.zeros((B, H, P, Ds))
    y = np.empty((B, L, H, P))
    for t in range(L):
        dt = x["dt"][:, t]
        S = np.exp(dt * x["A"])[..., None, None] * S + \
            (dt[..., None] * x["x"][:, t])[..., None] * x["B"][:, t, grp, None, :]
        y[:, t] = np.einsum("bhpn,bhn->bhp", S, x["C"][:, t, grp])
    if s["skip"]:
        y += x["D"][:, None] * x["x"]
    if s["z"]:
        y *= silu(x["z"])
    return y, S if s["state"] else None


class Prepared:
    device = "cpu"

    def __init__(self, case):
        self.case, self.out, self.final = case, None, None
        self.info = {"variant": case.variant}
        self.numerics = {"accumulate": "float64"}

    def call(self):
        self.out, self.final = (s6 if self.case.variant == "s6" else ssd)(self.case)

    def output(self):
        f = None if self.final is None else self.final.astype(np.float32)
        return self.out.astype(np.float32), f


def prepare(case):
    if case.shape.get("variant") != case.variant:
        raise peerlib.Unsupported("this adapter computes the %s variant" % case.variant)
    return Prepared(case)
