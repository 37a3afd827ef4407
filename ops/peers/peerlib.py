"""peerlib.py -- what the peers' adapters share (ops/peers/*.py, docs/peers.md).

An adapter is a module with

    DISTS = ("torch", "numpy", ...)   # distributions whose versions its rows record
    def prepare(case) -> Prepared     # everything untimed: imports, layouts, plans

and a Prepared object with

    call()          the timed operation, once; on a GPU it only queues work
    output()        (out, final) as float32 NumPy arrays in seqbench's layout
                    (final None when the case has no second output), from
                    the last call
    device          "cpu" or "cuda:N": the worker times a CPU call with a
                    monotonic clock, a GPU call with CUDA events
    info            dict, what the adapter chose (a backend, how the mask was
                    passed); stored with the result
    numerics        dict, the precision settings it ran with (TF32, ...)

prepare raises Unsupported(reason) for a case outside what the library
computes the same function for; the result is then "skipped: reason".
"""

import numpy as np


class Unsupported(Exception):
    """The peer does not compute this case (the row says skipped: why)."""


class Case:
    """One case as bench describes it (the prepare request)."""

    def __init__(self, fields, inputs):
        self.peer = fields["peer"]
        self.family = fields["family"]
        self.variant = fields.get("variant", "")
        self.device = fields["device"]
        self.dtype = fields["dtype"]
        self.threads = int(fields.get("threads", "1"))
        self.scale = float(fields["scale"])
        self.out_dims = dims(fields["out"])
        self.final_dims = dims(fields["final"]) if fields.get("final") else None
        self.inputs = inputs            # name -> float32 array, values already in the dtype
        self.shape = {}
        for key in ("B", "N", "Nk", "H", "Hkv", "Hv", "D", "Dv", "causal", "chunk", "state",
                    "Dm", "P", "Ds", "G", "z", "skip", "window", "sink", "density", "bq", "bk"):
            if key in fields:
                self.shape[key] = int(fields[key])
        for key in ("gate", "pattern"):
            if key in fields:
                self.shape[key] = fields[key]
        if "shape.variant" in fields:       # the ssm family's variant (s6, ssd, conv)
            self.shape["variant"] = fields["shape.variant"]


def dims(text):
    return tuple(int(x) for x in text.split(",")) if text else ()


def visible_bottom_right(n, nk, window=0, sink=0):
    """seqbench's causal mask, [n, nk] booleans: key j is visible to query i
    iff j <= i + nk - n (aligned bottom-right; top-left when n == nk too);
    with a window W > 0 also j > i + nk - n - W unless j < sink
    (ops/flash/flash_tiles.h, flash_visible)."""
    i = np.arange(n)[:, None]
    j = np.arange(nk)[None, :]
    diag = i + (nk - n)
    seen = j <= diag
    if window > 0:
        seen &= (j > diag - window) | (j < sink)
    return seen


def window_of(case):
    """(W, S): flash's window and sinks, (0, 0) without."""
    return case.shape.get("window", 0), case.shape.get("sink", 0)


# ---- PyTorch ------------------------------------------------------------------

def torch_dtype(torch, name):
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def torch_numerics(torch):
    """Sets what fp32 must mean here -- no TF32 -- and says what the run used.
    Reduced-precision reductions in bf16/fp16 GEMMs are left at torch's
    default and recorded."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    m = torch.backends.cuda.matmul
    return {
        "tf32_matmul": bool(m.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "bf16_reduced_reduction": bool(getattr(m, "allow_bf16_reduced_precision_reduction", False)),
        "fp16_reduced_reduction": bool(getattr(m, "allow_fp16_reduced_precision_reduction", False)),
    }


def to_torch(torch, case, name, dtype=None):
    """Input `name` on the case's device in the case's dtype (exact: the
    values are already of the dtype), or in `dtype`."""
    t = torch.from_numpy(np.ascontiguousarray(case.inputs[name]))
    device = "cpu" if case.device == "cpu" else case.device
    return t.to(device=device, dtype=dtype or torch_dtype(torch, case.dtype))


def to_numpy(t):
    """A tensor as float32 NumPy (bf16/fp16 upcast exactly)."""
    return np.ascontiguousarray(t.detach().float().cpu().numpy())
