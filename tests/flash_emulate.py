#!/usr/bin/env python3
"""flash_emulate.py — the split-KV path of ops/flash/flash_fwd.cu transcribed
into NumPy: the split plan (ops/flash/flash_tiles.h), flash_fwd_kernel's
block decode (blockIdx.x -> query tile and split), its key loop over
[jb, je) with the mask conditions, its epilogue (the thread (ty, tx) owning
rows ty + 16·i and dims 4·tx + 32·g + e, the workspace slots), and
flash_combine_kernel (a warp per row, lane owning dims lane + 32·e), checked
against float64 attention. Workspace and output start as NaN (the harness
poisons the output), so an element never written or a slot read before it
is written shows. Every buffer is a tests/emu_bounds.py Bounded array: the
global tensors flat, read and written at the kernel's element offsets (the
tile loads as flash_load_tile maps threads to 16-byte pieces, for fp32 and
bf16 widths), and shared memory as one buffer of flash_smem<D>::bytes whose
sQ, sKV and sP regions each access is checked against, so an index the
kernel would compute outside a buffer or region fails the case. There is no GPU on the build machine: this checks the index
arithmetic, not the CUDA semantics (barriers, shuffles); reference/flash.c
proves the algorithm on every machine.

usage: python3 tests/flash_emulate.py   (prints "N passed, M failed" last)
"""
import sys

import numpy as np

from emu_bounds import bounded, selftest

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
#
# Shared memory is one Bounded fp32 buffer of flash_smem<D>::bytes, carved as the kernel does
# (sQ, sKV, sP); every access goes through the thread mapping's index arithmetic and is checked
# against its own region, and global tensors are flat Bounded arrays read and written at the
# kernel's element offsets.

PAD = 4                         # FLASH_PAD
P_STRIDE = BC + 8               # FLASH_P_STRIDE
CN = BC // TX                   # keys per thread in S: 8


def region(idx, off, size, what):
    """idx must lie in [off, off + size): the kernel's region of a buffer."""
    if idx.size and (idx.min() < off or idx.max() >= off + size):
        raise IndexError(f"{what}: index {int(idx.min())}..{int(idx.max())} outside "
                         f"[{off}, {off + size})")
    return idx


def load_tile(smem, dst_off, rows, D, src, src_off, src_stride, rows_valid, mul, V):
    """flash_load_tile<T, D, ROWS>: thread t, step it moves V elements (16 bytes of T) of
    f = t + it·THREADS: row r = f / (D/V), column c = f % (D/V) · V; rows >= rows_valid are 0."""
    per_row = D // V
    assert rows * per_row % THREADS == 0, "the tile splits evenly over the block"
    f = (np.arange(THREADS)[None, :] + THREADS * np.arange(rows * per_row // THREADS)[:, None]).ravel()
    r, c, e = f // per_row, f % per_row * V, np.arange(V)
    x = np.zeros((f.size, V), f32)
    ok = r < rows_valid
    x[ok] = src[src_off + r[ok, None] * src_stride + c[ok, None] + e]
    dst = region(dst_off + r[:, None] * (D + PAD) + c[:, None] + e, dst_off, rows * (D + PAD), "tile")
    assert np.unique(dst).size == rows * D, "every element of the tile written once"
    smem[dst] = x * f32(mul)


def fwd_block(q, k, v, out, ws_o, ws_ml, shape, plan, causal, qscale, grid_x, bx, h, b, V):
    B, N, Nk, H, Hkv, D = shape
    qk = D + PAD
    q_off, kv_off, p_off = 0, BR * qk, BR * qk + BC * qk
    smem = bounded(np.full(BR * qk + BC * qk + BR * P_STRIDE, np.nan, f32))
    DG = D // (4 * TX)
    ty, tx = np.arange(TY), np.arange(TX)
    i_, c_, d_, gi_, e4 = np.arange(RM), np.arange(CN), np.arange(D), np.arange(DG), np.arange(4)
    j_ = np.arange(BC)
    # The S step's reads: sQ rows ty + 16·i, sKV rows tx + 8·c, dims d (float4 at a time).
    qidx = region(q_off + (ty[:, None, None] + TY * i_[None, :, None]) * qk + d_, q_off, BR * qk, "sQ")
    kidx = region(kv_off + (tx[:, None, None] + TX * c_[None, :, None]) * qk + d_, kv_off, BC * qk, "sKV")
    # sP: written at (row ty + 16·i, key tx + 8·c), read along all keys of the thread's rows.
    pw = region(p_off + (ty[:, None, None, None] + TY * i_[None, :, None, None]) * P_STRIDE
                + tx[None, None, :, None] + TX * c_, p_off, BR * P_STRIDE, "sP")
    pr = region(p_off + (ty[:, None, None] + TY * i_[None, :, None]) * P_STRIDE + j_, p_off,
                BR * P_STRIDE, "sP")
    # The O step's V reads: key j, dims 4·tx + 32·gi + e.
    dims = (4 * tx[:, None, None] + 4 * TX * gi_[None, :, None] + e4)      # [tx][gi][e]
    vidx = region(kv_off + j_[:, None, None, None] * qk + dims, kv_off, BC * qk, "sKV")

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
    kv_stride = Hkv * D
    kb = (b * Nk * Hkv + g) * D

    load_tile(smem, q_off, BR, D, q, ((b * N + i0) * H + h) * D, H * D, nr, qscale, V)
    rows = i0 + np.arange(BR)
    m = np.full(BR, -np.inf, f32)
    l = np.zeros(BR, f32)
    o = np.zeros((TY, RM, TX, DG, 4), f32)      # thread (ty, tx)'s o[i][gi][e]
    j0 = jb
    while j0 < je:
        nc = min(BC, je - j0)
        load_tile(smem, kv_off, BC, D, k, kb + j0 * kv_stride, kv_stride, nc, 1.0, V)
        st = np.einsum("yid,xcd->yixc", smem[qidx], smem[kidx]).astype(f32)
        s = st.transpose(1, 0, 3, 2).reshape(BR, BC)     # [i·16 + ty][c·8 + tx]
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
        smem[pw] = p.reshape(RM, TY, CN, TX).transpose(1, 0, 3, 2)
        o = o * alpha.reshape(RM, TY).T[:, :, None, None, None]
        load_tile(smem, kv_off, BC, D, v, kb + j0 * kv_stride, kv_stride, nc, 1.0, V)
        o = (o + np.einsum("yij,jxge->yixge", smem[pr], smem[vidx])).astype(f32)
        m = mx
        j0 += BC

    # The epilogue, thread by thread: rows ty + 16·i, dims 4·tx + 32·gi + e.
    for t in range(THREADS):
        x, y = t % TX, t // TX
        for i in range(RM):
            r = y + TY * i
            row = i0 + r
            if row >= N:
                continue
            dd = dims[x].ravel()
            if count > 1:
                slot = ((b * N + row) * H + h) * plan[1] + sp
                ws_o[slot * D + dd] = o[y, i, x].ravel()
                if x == 0:
                    ws_ml[slot * 2 + np.arange(2)] = (m[r], l[r])
            else:
                out[((b * N + row) * H + h) * D + dd] = o[y, i, x].ravel() / l[r]


# ---- flash_combine_kernel, one warp ---------------------------------------------------------

def combine_warp(ws_o, ws_ml, out, shape, plan, causal, row):
    B, N, Nk, H, Hkv, D = shape
    if row >= B * N * H:
        return
    n = row // H % N
    count = tile_splits(plan, N, Nk, causal, n // BR * BR)
    if count == 1:
        return
    ml, po = row * plan[1] * 2, row * plan[1] * D      # offsets of the row's slots
    mx = max(ws_ml[ml + sp * 2] for sp in range(count))  # lanes' maxima, then xor-shuffles
    E = D // 32
    lo = np.zeros((32, E), f32)
    lsum = f32(0)
    lanes = np.arange(32)[:, None] + 32 * np.arange(E)[None, :]
    for sp in range(count):
        w = f32(np.exp2(ws_ml[ml + sp * 2] - mx))
        lsum = f32(ws_ml[ml + sp * 2 + 1] * w + lsum)
        lo = (ws_o[po + sp * D + lanes] * w + lo).astype(f32)
    out[row * D + lanes] = lo / lsum


def run(B, N, Nk, H, Hkv, D, causal, sms, V, seed):
    """V: elements per 16-byte load (4: fp32, 8: bf16); the data stay fp32, only the
    loads' index arithmetic follows the dtype."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(-1, 1, (B, N, H, D)).astype(f32)
    k = rng.uniform(-1, 1, (B, Nk, Hkv, D)).astype(f32)
    v = rng.uniform(-1, 1, (B, Nk, Hkv, D)).astype(f32)
    scale = 1 / np.sqrt(D)
    shape = (B, N, Nk, H, Hkv, D)
    plan = splits(B, H, N, Nk, causal, sms)
    tiles = cdiv(N, BR)
    grid_x = tiles * plan[1]
    out = bounded(np.full(B * N * H * D, np.nan, f32))
    ws_o = bounded(np.full(B * N * H * plan[1] * D, np.nan, f32))
    ws_ml = bounded(np.full(B * N * H * plan[1] * 2, np.nan, f32))
    qf, kf, vf = (bounded(x.ravel()) for x in (q, k, v))
    for b in range(B):
        for h in range(H):
            for bx in range(grid_x):
                fwd_block(qf, kf, vf, out, ws_o, ws_ml, shape, plan, causal, f32(scale * LOG2E),
                          grid_x, bx, h, b, V)
    if plan[1] > 1:
        rows_per_block = THREADS // 32
        for bx in range(cdiv(B * N * H, rows_per_block)):
            for warp in range(rows_per_block):
                combine_warp(ws_o, ws_ml, out, shape, plan, causal, bx * rows_per_block + warp)
    out = np.asarray(out).reshape(B, N, H, D)
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
    cases = [  # B, N, Nk, H, Hkv, D, causal, sms, V (elements per 16-byte load: 4 fp32, 8 bf16)
        (2, 1, 4099, 4, 2, 128, 1, 132, 8),
        (1, 16, 3000, 4, 1, 64, 1, 132, 4),
        (1, 16, 80, 1, 1, 64, 1, 132, 8),
        (1, 5, 1000, 4, 2, 64, 0, 132, 4),
        (1, 130, 700, 2, 1, 64, 1, 132, 8),
        (1, 130, 700, 2, 1, 128, 0, 16, 4),
        (3, 7, 2345, 2, 1, 64, 1, 78, 8),
        (1, 1, 9000, 1, 1, 64, 1, 132, 4),  # FLASH_MAX_SPLITS wanted: 141 key tiles, 2 per split
        (2, 70, 300, 1, 1, 64, 1, 132, 4),  # batches of two tiles with 4 and 5 splits
        (4, 1, 300, 66, 66, 64, 1, 132, 8),  # no split
        (1, 70, 200, 1, 1, 64, 1, 1, 4),    # 2 blocks on 1 SM: no split
        (1, 129, 129, 2, 2, 128, 1, 1000, 8),  # prefill split: causal tiles of 1, 2 and 3 splits
    ]
    passed = failed = 0
    if selftest():
        passed += 1
    else:
        failed += 1
        print("FAIL flash_emulate.py: emu_bounds.selftest: an out-of-bounds index went through",
              file=sys.stderr)
    for c in cases:
        try:
            plan, err = run(*c, seed=7)
        except IndexError as e:                 # an access outside its buffer or region
            plan, err = None, np.inf
            print(f"FAIL flash_emulate.py: {c}: {e}", file=sys.stderr)
        ok = err < 1e-5
        passed += ok
        failed += not ok
        if not ok:
            print(f"FAIL flash_emulate.py: B,N,Nk,H,Hkv,D,causal,sms,V={c}: plan {plan}, rel err {err:.3g}",
                  file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
