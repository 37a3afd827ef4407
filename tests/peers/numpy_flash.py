"""numpy_flash.py -- test adapters for the peers' protocol (tests/peers.sh):
flash attention in NumPy, and the ways a peer can fail. The variant says
which:

    ok            the flash family's function (window and sinks too), float64 in NumPy
    wrong         the same with the scale off by half: a mismatch
    shape         the output flattened to 2-D: an error, not a mismatch
    exit          the process exits while preparing
    crash         a segmentation fault in the first timed call
    hang          sleeps while preparing, past any sensible limit
    hang-samples  sleeps in the first timed call
    unsupported   refuses every case (skip)

The worker calls prepare's call twice (an untimed call, then one to size the
time limits), bench's check asks for one more ("run"); the fourth call is
the first timed one.
"""
import ctypes
import os
import time

import numpy as np

import peerlib

DISTS = ("numpy",)
FIRST_TIMED_CALL = 4


def attention(q, k, v, scale, causal, window=0, sink=0):
    B, N, H, D = q.shape
    Nk, Hkv = k.shape[1], k.shape[2]
    group = H // Hkv
    kk = np.repeat(k.astype(np.float64), group, axis=2)      # [B,Nk,H,D]
    vv = np.repeat(v.astype(np.float64), group, axis=2)
    s = np.einsum("bnhd,bkhd->bhnk", q.astype(np.float64), kk) * scale
    if causal:
        s = np.where(peerlib.visible_bottom_right(N, Nk, window, sink)[None, None], s, -np.inf)
    s -= s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("bhnk,bkhd->bnhd", p, vv).astype(np.float32)


class Prepared:
    device = "cpu"

    def __init__(self, case):
        self.case = case
        self.calls = 0
        self.out = None
        self.info = {"variant": case.variant}
        self.numerics = {"accumulate": "float64"}

    def call(self):
        self.calls += 1
        v = self.case.variant
        if self.calls == FIRST_TIMED_CALL and v == "crash":
            ctypes.string_at(0)                 # SIGSEGV
        if self.calls == FIRST_TIMED_CALL and v == "hang-samples":
            time.sleep(3600)
        c, x = self.case, self.case.inputs
        scale = c.scale * (1.5 if v == "wrong" else 1.0)
        self.out = attention(x["q"], x["k"], x["v"], scale, c.shape["causal"],
                             *peerlib.window_of(c))

    def output(self):
        if self.case.variant == "shape":
            return self.out.reshape(self.out.shape[0] * self.out.shape[1], -1), None
        return self.out, None


def prepare(case):
    if case.variant == "exit":
        os._exit(3)
    if case.variant == "hang":
        time.sleep(3600)
    if case.variant == "unsupported":
        raise peerlib.Unsupported("numpy-unsupported takes no case")
    return Prepared(case)
