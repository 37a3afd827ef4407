#!/usr/bin/env python3
"""flash_emulate.py — the split-KV path of ops/flash/flash_fwd.cu transcribed
into NumPy: the split plan (ops/flash/flash_tiles.h), flash_fwd_kernel's
block decode (blockIdx.x -> query tile and split), its key loop over
[jb, je) with the mask conditions, its epilogue (the thread (ty, tx) owning
rows ty + 16·i and dims 4·tx + 32·g + e, the workspace slots), and
flash_combine_kernel (a warp per row, lane owning dims lane + 32·e), checked
against float64 attention. Workspace and output start as NaN (the harness
poisons the output), so an element never written or a slot read before it
is written shows. There is no GPU on the build machine: this checks the index
arithmetic, not the CUDA semantics (barriers, shuffles); reference/flash.c
proves the algorithm on every machine.

usage: python3 tests/flash_emulate.py   (prints "N passed, M failed" last)
"""
import sys

import numpy as np

BR, BC = 64, 64                 # FLASH_BR, FLASH_BC
SPLIT_BELOW, SPLIT_WAVES, MAX_SPLITS = 2, 4, 128
THREADS, TX = 128, 8
TY = THREADS // TX              # 16
RM = BR // TY                   # rows per thread: 4
LOG2E = 1.4426950408889634
f32 = np.float32


# ---- flash_tiles.h ---------------------------------------------------------------------------

def cdiv(a, b):
    return (a + b - 1) // b


def kv_first(N, Nk, causal, i0):
    return i0 + 1 + (Nk - N) if causal else Nk


def kv_end(N, Nk, causal, i0):
    nr = min(BR, N - i0)
    return i0 + nr + (Nk - N) if causal else Nk


def splits(B, H, N, Nk, causal, sms):
    tiles = cdiv(N, BR)
    blocks = B * H * tiles
    kv = kv_first(N, Nk, causal, (tiles - 1) * BR)
    ktiles = cdiv(kv, BC)
    if sms <= 0 or blocks >= SPLIT_BELOW * sms:
        return ktiles * BC, 1
    want = min(cdiv(SPLIT_WAVES * sms, blocks), MAX_SPLITS, ktiles)
    length = cdiv(ktiles, want) * BC
    return length, cdiv(kv, length)


def tile_splits(plan, N, Nk, causal, i0):
    return cdiv(kv_first(N, Nk, causal, i0), plan[0])


def split_keys(plan, N, Nk, causal, i0, sp):
    jb = sp * plan[0]
    last = sp == tile_splits(plan, N, Nk, causal, i0) - 1
    return jb, kv_end(N, Nk, causal, i0) if last else (sp + 1) * plan[0]


# ---- flash_fwd_kernel, one block ------------------------------------------------------------

def fwd_block(q, k, v, out, ws_o, ws_ml, plan, causal, qscale, grid_x, bx, h, b):
    B, N, H, D = q.shape
    Nk, Hkv = k.shape[1], k.shape[2]
    ts = grid_x - 1 - bx
    tile, sp = ts // plan[1], ts % plan[1]
    g = h // (H // Hkv)
    i0 = tile * BR
    nr = min(BR, N - i0)
    shift = Nk - N
    count = tile_splits(plan, N, Nk, causal, i0)
    if sp >= count:
        return
    jb, je = split_keys(plan, N, Nk, causal, i0, sp)

    sq = np.zeros((BR, D), f32)
    sq[:nr] = q[b, i0:i0 + nr, h] * qscale
    rows = i0 + np.arange(BR)
    m = np.full(BR, -np.inf, f32)
    l = np.zeros(BR, f32)
    o = np.zeros((BR, D), f32)
    j0 = jb
    while j0 < je:
        nc = min(BC, je - j0)
        skv = np.zeros((BC, D), f32)
        skv[:nc] = k[b, j0:j0 + nc, g]
        s = sq @ skv.T
        if j0 + BC > je or (causal and j0 + BC - 1 > i0 + shift):
            j = j0 + np.arange(BC)
            hide = j[None, :] >= je
            if causal:
                hide = hide | (j[None, :] > rows[:, None] + shift)
            s = np.where(hide, f32(-np.inf), s)
        mx = np.maximum(m, s.max(axis=1))
        with np.errstate(invalid="ignore"):
            alpha = np.exp2(m - mx).astype(f32)
        alpha = np.where(np.isneginf(m), f32(0), alpha)
        p = np.exp2(s - mx[:, None]).astype(f32)
        l = (l * alpha + p.sum(axis=1)).astype(f32)
        o = o * alpha[:, None]
        skv = np.zeros((BC, D), f32)
        skv[:nc] = v[b, j0:j0 + nc, g]
        o = (o + p @ skv).astype(f32)
        m = mx
        j0 += BC

    # The epilogue, thread by thread: rows ty + 16·i, dims 4·tx + 32·gi + e.
    for tid in range(THREADS):
        tx, ty = tid % TX, tid // TX
        for i in range(RM):
            r = ty + TY * i
            row = i0 + r
            if row >= N:
                continue
            dims = np.array([4 * tx + 4 * TX * gi + e for gi in range(D // (4 * TX)) for e in range(4)])
            if count > 1:
                slot = ((b * N + row) * H + h) * plan[1] + sp
                ws_o[slot * D + dims] = o[r, dims]
                if tx == 0:
                    ws_ml[slot * 2:slot * 2 + 2] = (m[r], l[r])
            else:
                out[b, row, h, dims] = o[r, dims] / l[r]


# ---- flash_combine_kernel, one warp ---------------------------------------------------------

def combine_warp(ws_o, ws_ml, out, plan, causal, Nk, row):
    B, N, H, D = out.shape
    if row >= B * N * H:
        return
    n = row // H % N
    count = tile_splits(plan, N, Nk, causal, n // BR * BR)
    if count == 1:
        return
    ml = ws_ml[row * plan[1] * 2:]
    po = ws_o[row * plan[1] * D:]
    mx = max(ml[sp * 2] for sp in range(count))     # lanes' maxima, then xor-shuffles
    E = D // 32
    lo = np.zeros((32, E), f32)
    lsum = f32(0)
    lanes = np.arange(32)[:, None] + 32 * np.arange(E)[None, :]
    for sp in range(count):
        w = f32(np.exp2(ml[sp * 2] - mx))
        lsum = f32(ml[sp * 2 + 1] * w + lsum)
        lo = (po[sp * D + lanes] * w + lo).astype(f32)
    b, n, h = row // H // N, row // H % N, row % H
    out[b, n, h, lanes] = lo / lsum


def run(B, N, Nk, H, Hkv, D, causal, sms, seed):
    rng = np.random.default_rng(seed)
    q = rng.uniform(-1, 1, (B, N, H, D)).astype(f32)
    k = rng.uniform(-1, 1, (B, Nk, Hkv, D)).astype(f32)
    v = rng.uniform(-1, 1, (B, Nk, Hkv, D)).astype(f32)
    scale = 1 / np.sqrt(D)
    plan = splits(B, H, N, Nk, causal, sms)
    tiles = cdiv(N, BR)
    grid_x = tiles * plan[1]
    out = np.full((B, N, H, D), np.nan, f32)
    ws_o = np.full(B * N * H * plan[1] * D, np.nan, f32)
    ws_ml = np.full(B * N * H * plan[1] * 2, np.nan, f32)
    for b in range(B):
        for h in range(H):
            for bx in range(grid_x):
                fwd_block(q, k, v, out, ws_o, ws_ml, plan, causal, f32(scale * LOG2E), grid_x, bx, h, b)
    if plan[1] > 1:
        rows_per_block = THREADS // 32
        for bx in range(cdiv(B * N * H, rows_per_block)):
            for warp in range(rows_per_block):
                combine_warp(ws_o, ws_ml, out, plan, causal, Nk, bx * rows_per_block + warp)
    # float64 attention, causal bottom-right aligned
    s = np.einsum("bnhd,bkhd->bhnk", q.astype(np.float64),
                  np.repeat(k, H // Hkv, axis=2).astype(np.float64)) * scale
    if causal:
        s = np.where(np.arange(Nk)[None, :] > np.arange(N)[:, None] + Nk - N, -np.inf, s)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    ref = np.einsum("bhnk,bkhd->bnhd", p, np.repeat(v, H // Hkv, axis=2).astype(np.float64))
    err = np.linalg.norm(out - ref) / np.linalg.norm(ref) if np.all(np.isfinite(out)) else np.inf
    return plan, err


def main():
    cases = [  # B, N, Nk, H, Hkv, D, causal, sms
        (2, 1, 4099, 4, 2, 128, 1, 132),
        (1, 16, 3000, 4, 1, 64, 1, 132),
        (1, 16, 80, 1, 1, 64, 1, 132),
        (1, 5, 1000, 4, 2, 64, 0, 132),
        (1, 130, 700, 2, 1, 64, 1, 132),
        (1, 130, 700, 2, 1, 128, 0, 16),
        (3, 7, 2345, 2, 1, 64, 1, 78),
        (1, 1, 9000, 1, 1, 64, 1, 132),     # FLASH_MAX_SPLITS wanted: 141 key tiles, 2 per split
        (2, 70, 300, 1, 1, 64, 1, 132),     # batches of two tiles with 4 and 5 splits
        (4, 1, 300, 66, 66, 64, 1, 132),    # no split
        (1, 70, 200, 1, 1, 64, 1, 1),       # 2 blocks on 1 SM: no split
    ]
    passed = failed = 0
    for c in cases:
        plan, err = run(*c, seed=7)
        ok = err < 1e-5
        passed += ok
        failed += not ok
        if not ok:
            print(f"FAIL flash_emulate.py: B,N,Nk,H,Hkv,D,causal,sms={c}: plan {plan}, rel err {err:.3g}",
                  file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
