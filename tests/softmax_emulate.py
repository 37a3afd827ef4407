#!/usr/bin/env python3
"""softmax_emulate.py — ops/softmax/softmax_cublas.cu's host code transcribed
into NumPy: the per-(b, h) operand pointers softmax_upload_ptrs fills (as
element offsets into flat buffers, GQA's kv head g = h / (H/Hkv)), and the
two cublasGemmBatchedEx calls of softmax_cublas_run with their exact
transposes, m, n, k and leading dimensions, executed with cuBLAS's
column-major semantics (element (i, j) of a matrix at ptr + i + j·ld; op T
reads the stored matrix transposed; a ld below the stored rows is refused
as cuBLAS refuses it) over tests/emu_bounds.py Bounded buffers; the masked
softmax between them as softmax_rows_kernel defines it. Checked against
float64 attention. There is no GPU on the build machine: this checks the
operand layout, not cuBLAS.

usage: python3 tests/softmax_emulate.py   (prints "N passed, M failed" last)
"""
import sys

import numpy as np

from emu_bounds import bounded

LOG2E = 1.4426950408889634


def gemm_batched(transa, transb, m, n, k, alpha, A, a_ptrs, lda, B, b_ptrs, ldb, C, c_ptrs, ldc):
    """C_i (m×n, col-major, ldc) = alpha · op(A_i) · op(B_i), beta = 0."""
    if lda < (m if transa == "N" else k) or ldb < (k if transb == "N" else n) or ldc < m:
        raise ValueError("CUBLAS_STATUS_INVALID_VALUE: leading dimension too small")
    i, j, l = np.arange(m), np.arange(n), np.arange(k)
    for a, b, c in zip(a_ptrs, b_ptrs, c_ptrs):
        # op(A)(i, l) and op(B)(l, j) as stored-matrix offsets.
        ai = a + (i[:, None] + l[None, :] * lda if transa == "N" else l[None, :] + i[:, None] * lda)
        bi = b + (l[:, None] + j[None, :] * ldb if transb == "N" else j[None, :] + l[:, None] * ldb)
        C[c + i[:, None] + j[None, :] * ldc] = alpha * (A[ai].astype(np.float64) @ B[bi].astype(np.float64))


def run(B, N, Nk, H, Hkv, D, Dv, causal, seed):
    rng = np.random.default_rng(seed)
    q = rng.uniform(-1, 1, (B, N, H, D))
    k = rng.uniform(-1, 1, (B, Nk, Hkv, D))
    v = rng.uniform(-1, 1, (B, Nk, Hkv, Dv))
    scale = 1 / np.sqrt(D)
    qf, kf, vf = (bounded(x.ravel()) for x in (q, k, v))
    out = bounded(np.full(B * N * H * Dv, np.nan))
    S = bounded(np.full(B * H * N * Nk, np.nan))
    P = bounded(np.full(B * H * N * Nk, np.nan))
    # softmax_upload_ptrs: element offsets.
    group = H // Hkv
    ptr = {name: [] for name in ("qk_a", "qk_b", "qk_c", "pv_a", "pv_b", "pv_c")}
    for b in range(B):
        for h in range(H):
            bh, g = b * H + h, h // group
            ptr["qk_a"].append((b * Nk * Hkv + g) * D)
            ptr["qk_b"].append((b * N * H + h) * D)
            ptr["qk_c"].append(bh * N * Nk)
            ptr["pv_a"].append((b * Nk * Hkv + g) * Dv)
            ptr["pv_b"].append(bh * N * Nk)
            ptr["pv_c"].append((b * N * H + h) * Dv)
    # softmax_cublas_run: S_bh = alpha · K_bgᵀ · Q_bh (Nk×N col-major, ldc Nk).
    gemm_batched("T", "N", Nk, N, D, scale * LOG2E, kf, ptr["qk_a"], Hkv * D, qf, ptr["qk_b"], H * D,
                 S, ptr["qk_c"], Nk)
    # softmax_rows_kernel: row r = (b·H + h)·N + i.
    for r in range(B * H * N):
        i = r % N
        kv_end = min(i + Nk - N + 1, Nk) if causal else Nk
        s = S[r * Nk:(r + 1) * Nk]
        p = np.zeros(Nk)
        p[:kv_end] = np.exp2(s[:kv_end] - s[:kv_end].max())
        P[r * Nk:(r + 1) * Nk] = p / p.sum()
    # O_bh (Dv×N col-major, ldc H·Dv) = V_bg · P_bh.
    gemm_batched("N", "N", Dv, N, Nk, 1.0, vf, ptr["pv_a"], Hkv * Dv, P, ptr["pv_b"], Nk,
                 out, ptr["pv_c"], H * Dv)
    s = np.einsum("bnhd,bkhd->bhnk", q, np.repeat(k, group, axis=2)) * scale
    if causal:
        s = np.where(np.arange(Nk)[None, :] > np.arange(N)[:, None] + Nk - N, -np.inf, s)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    ref = np.einsum("bhnk,bkhd->bnhd", p, np.repeat(v, group, axis=2))
    o = np.asarray(out).reshape(B, N, H, Dv)
    return np.linalg.norm(o - ref) / np.linalg.norm(ref) if np.all(np.isfinite(o)) else np.inf


def main():
    cases = [  # B, N, Nk, H, Hkv, D, Dv, causal
        (2, 5, 9, 4, 2, 8, 8, 1),       # GQA, causal bottom-right (Nk > N)
        (1, 7, 7, 3, 1, 4, 6, 1),       # MQA, Dv != D
        (3, 1, 33, 2, 2, 8, 8, 1),      # decode
        (2, 6, 11, 4, 4, 8, 4, 0),      # cross attention
    ]
    passed = failed = 0
    for c in cases:
        try:
            err = run(*c, seed=3)
        except (IndexError, ValueError) as e:
            err = np.inf
            print(f"FAIL softmax_emulate.py: {c}: {e}", file=sys.stderr)
        ok = err < 1e-12
        passed += ok
        failed += not ok
        if not ok:
            print(f"FAIL softmax_emulate.py: B,N,Nk,H,Hkv,D,Dv,causal={c}: rel err {err:.3g}", file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
