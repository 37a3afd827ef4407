#!/usr/bin/env python3
"""gla_emulate.py — the GPU kernels of ops/gated/ transcribed into NumPy,
thread by thread where their index math lives (loads, fragment layouts of
mma.m16n8k16, stores), and checked against the float64 recurrence. There is
no GPU on the build machine: this checks that the kernels' index arithmetic
computes the chunked algorithm, which reference/gla.c proves on every
machine. It does not check the CUDA semantics themselves (barriers, the
hardware's fragment layout beyond the PTX ISA's description). Global tensors
and every shared-memory region are tests/emu_bounds.py's Bounded arrays of
the kernel's exact sizes: an index outside its buffer (negative ones
included, which NumPy would wrap) fails the case.

usage: python3 tests/gla_emulate.py   (prints "N passed, M failed" last)
"""
import sys

import numpy as np

from emu_bounds import bf, bounded, selftest

GATE_NONE, GATE_HEAD, GATE_KEY = 0, 1, 2
LOG2E = 1.4426950408889634


def ex(x):
    return np.float32(np.exp2(np.float32(x) * np.float32(LOG2E)))


# ---- the float64 recurrence (reference/recurrent.c) -------------------------------------

def recurrence(q, k, v, g, h0, gate, scale):
    B, N, H, D = q.shape
    Hv, Dv = v.shape[2], v.shape[3]
    out = np.zeros((B, N, Hv, Dv))
    ht = np.zeros((B, Hv, D, Dv))
    for b in range(B):
        for j in range(Hv):
            hq = j // (Hv // H)
            S = h0[b, j].astype(np.float64).copy() if h0 is not None else np.zeros((D, Dv))
            for t in range(N):
                if gate == GATE_HEAD:
                    S *= np.exp(float(g[b, t, j]))
                elif gate == GATE_KEY:
                    S *= np.exp(g[b, t, j].astype(np.float64))[:, None]
                S += np.outer(k[b, t, hq], v[b, t, j])
                out[b, t, j] = scale * (q[b, t, hq].astype(np.float64) @ S)
            ht[b, j] = S
    return out, ht


# ---- mma.m16n8k16 as the PTX ISA describes its fragments --------------------------------

# Multiply-adds the kernels' product statements execute, counted where they
# stand (one mma.m16n8k16 is 16·8·16); case() prints them for gla.sh, which
# compares them with the flops_executed bench stores.
MACS = [0]


def mma(d, a, b):
    """d[lane][4] += A·B; a[lane] = 4 pairs, b[lane] = 2 pairs (lo, hi)."""
    MACS[0] += 16 * 8 * 16
    Am = np.zeros((16, 16))
    Bm = np.zeros((16, 8))
    for lane in range(32):
        g, t = lane // 4, lane % 4
        for x, (r, c) in enumerate(((g, 2 * t), (g + 8, 2 * t), (g, 2 * t + 8), (g + 8, 2 * t + 8))):
            Am[r, c], Am[r, c + 1] = a[lane][x]
        for x, kk in enumerate((2 * t, 2 * t + 8)):
            Bm[kk, g], Bm[kk + 1, g] = b[lane][x]
    Cm = Am @ Bm
    for lane in range(32):
        g, t = lane // 4, lane % 4
        d[lane][0] = np.float32(d[lane][0] + Cm[g, 2 * t])
        d[lane][1] = np.float32(d[lane][1] + Cm[g, 2 * t + 1])
        d[lane][2] = np.float32(d[lane][2] + Cm[g + 8, 2 * t])
        d[lane][3] = np.float32(d[lane][3] + Cm[g + 8, 2 * t + 1])


def ld32(X, i):
    return (X[i], X[i + 1])


def frag_a(X, ld, r0, k0, lane):
    g, t = lane // 4, lane % 4
    return [ld32(X, (r0 + g) * ld + k0 + 2 * t), ld32(X, (r0 + g + 8) * ld + k0 + 2 * t),
            ld32(X, (r0 + g) * ld + k0 + 2 * t + 8), ld32(X, (r0 + g + 8) * ld + k0 + 2 * t + 8)]


def frag_b(Y, ld, n0, k0, lane):
    g, t = lane // 4, lane % 4
    return [ld32(Y, (n0 + g) * ld + k0 + 2 * t), ld32(Y, (n0 + g) * ld + k0 + 2 * t + 8)]


# ---- cuda-opt (gla_fwd_mma.cu) ------------------------------------------------------------

CMAX, DT, DVS, PAD, THREADS = 64, 32, 32, 8, 128


def mma_scores(q, k, g, gate, C, scale, Gc, A):
    """gla_mma_scores_kernel over its grid; q, k, g flat, bf16 values."""
    B, N, H, D, Hv = SH['B'], SH['N'], SH['H'], SH['D'], SH['Hv']
    nch = (N + C - 1) // C
    key = gate == GATE_KEY
    LD, F = DT + PAD, DT + 1
    for b in range(B):
        for j in range(Hv):
            for chunk in range(nch):
                hq = j // (Hv // H)
                t0 = chunk * C
                c = min(C, N - t0)
                smq = bounded(np.zeros((CMAX, F), np.float32))
                smk = bounded(np.zeros((CMAX, F), np.float32))
                smG = bounded(np.zeros((CMAX, F), np.float32))
                sma = bounded(np.zeros((CMAX, CMAX + 1), np.float32))
                Gh = bounded(np.full(CMAX, np.nan, np.float32))
                qt = bounded(np.full(CMAX * LD, np.nan, np.float32))
                kt = bounded(np.full((4, CMAX * LD), np.nan, np.float32))
                if gate == GATE_HEAD:
                    run = np.float32(0)
                    for i in range(c):
                        gi = (b * N + t0 + i) * Hv + j
                        run = np.float32(run + g[gi])
                        Gh[i] = run
                        Gc[gi] = run
                acc = np.zeros((4, 32, 8, 4), np.float32)
                diag = np.zeros((4, 32, 8), np.float32)
                for d0 in range(0, D, DT):
                    for f in range(CMAX * DT):
                        i, dd = f // DT, f % DT
                        inn = i < c
                        row = (b * N + t0 + i) * H + hq
                        smq[i, dd] = q[row * D + d0 + dd] if inn else 0
                        smk[i, dd] = k[row * D + d0 + dd] if inn else 0
                        if key:
                            smG[i, dd] = g[((b * N + t0 + i) * Hv + j) * D + d0 + dd] if inn else 0
                    if key:
                        for tid in range(DT):
                            run = np.float32(0)
                            for i in range(c):
                                run = np.float32(run + smG[i, tid])
                                smG[i, tid] = run
                                Gc[((b * N + t0 + i) * Hv + j) * D + d0 + tid] = run
                            for i in range(c, CMAX):
                                smG[i, tid] = run
                    for f in range(CMAX * DT):
                        i, dd = f // DT, f % DT
                        if key:
                            r = i & ~15
                            qt[i * LD + dd] = bf(smq[i, dd] * ex(smG[i, dd] - smG[r, dd]))
                            for x in range(1, 4):
                                if i < 16 * x:
                                    kt[x, i * LD + dd] = bf(smk[i, dd] * ex(smG[16 * x, dd] - smG[i, dd]))
                        else:
                            qt[i * LD + dd] = bf(smq[i, dd])
                            kt[0, i * LD + dd] = bf(smk[i, dd])
                    for w in range(4):
                        nt_mma = 0 if 16 * w >= C else (2 * w if key else 2 * w + 2)
                        ktw = kt[w if key else 0]
                        for ks in range(0, DT, 16):
                            a = [frag_a(qt, LD, 16 * w, ks, lane) for lane in range(32)]
                            for n in range(8):
                                if n < nt_mma:
                                    bb = [frag_b(ktw, LD, 8 * n, ks, lane) for lane in range(32)]
                                    d = [acc[w, lane, n] for lane in range(32)]
                                    mma(d, a, bb)
                        if key and 16 * w < C:
                            for lane in range(32):
                                di, dj0 = 16 * w + lane // 2, 16 * w + 8 * (lane % 2)
                                for u in range(8):
                                    jj = dj0 + u
                                    if jj <= di:
                                        s = diag[w, lane, u]
                                        MACS[0] += DT
                                        for dd in range(DT):
                                            s = np.float32(s + np.float32(smq[di, dd] * smk[jj, dd]) *
                                                           ex(smG[di, dd] - smG[jj, dd]))
                                        diag[w, lane, u] = s
                for w in range(4):
                    nt_mma = 0 if 16 * w >= C else (2 * w if key else 2 * w + 2)
                    for lane in range(32):
                        gq, tq = lane // 4, lane % 4
                        for n in range(8):
                            if n < nt_mma:
                                for x in range(4):
                                    i, jj = 16 * w + gq + 8 * (x // 2), 8 * n + 2 * tq + x % 2
                                    v = 0
                                    if jj <= i and i < c:
                                        v = acc[w, lane, n, x] * np.float32(scale) * \
                                            (ex(Gh[i] - Gh[jj]) if gate == GATE_HEAD else 1)
                                    sma[i, jj] = v
                        if key and 16 * w < C:
                            di, dj0 = 16 * w + lane // 2, 16 * w + 8 * (lane % 2)
                            for u in range(8):
                                sma[di, dj0 + u] = diag[w, lane, u] * np.float32(scale) \
                                    if (dj0 + u <= di and di < c) else 0
                base = ((b * Hv + j) * nch + chunk) * C * C
                for f in range(C * C):
                    A[base + f] = bf(sma[f // C, f % C])


def mma_chunk(q, k, v, h0, Gc, A, gate, C, scale, out, ht):
    """gla_mma_chunk_kernel over its grid."""
    B, N, H, D, Hv, Dv = SH['B'], SH['N'], SH['H'], SH['D'], SH['Hv'], SH['Dv']
    MT, ldd, LDC = D // 64, D + PAD, CMAX + PAD
    nch, nsub = (N + C - 1) // C, C // 16
    Dg = D if gate == GATE_KEY else 1
    for b in range(B):
        for j in range(Hv):
            for e0 in range(0, Dv, DVS):
                hq = j // (Hv // H)
                st0 = (b * Hv + j) * D * Dv + e0
                S = np.zeros((4, 32, MT, 4, 4), np.float32)
                for w in range(4):
                    for lane in range(32):
                        gq, tq = lane // 4, lane % 4
                        for m in range(MT):
                            for n in range(4):
                                for x in range(4):
                                    d = w * (D // 4) + 16 * m + gq + 8 * (x // 2)
                                    e = 8 * n + 2 * tq + x % 2
                                    S[w, lane, m, n, x] = h0[st0 + d * Dv + e] if h0 is not None else 0
                for chunk in range(nch):
                    t0 = chunk * C
                    c = min(C, N - t0)
                    last = (b * N + t0 + c - 1) * Hv + j
                    sQg = bounded(np.full(CMAX * ldd, np.nan, np.float32))
                    sKdt = bounded(np.full(D * LDC, np.nan, np.float32))
                    sVt = bounded(np.full(DVS * LDC, np.nan, np.float32))
                    sA = bounded(np.full(CMAX * LDC, np.nan, np.float32))
                    sSt = bounded(np.full(DVS * ldd, np.nan, np.float32))
                    sDecay = bounded(np.full(D, np.nan, np.float32))
                    for f in range(C * DVS):
                        i, e = f // DVS, f % DVS
                        sVt[e * LDC + i] = v[((b * N + t0 + i) * Hv + j) * Dv + e0 + e] if i < c else 0
                    Ab = ((b * Hv + j) * nch + chunk) * C * C
                    for f in range(C * C):
                        sA[(f // C) * LDC + f % C] = A[Ab + f]
                    for d in range(D):
                        sDecay[d] = 1 if gate == GATE_NONE else ex(Gc[last * Dg + (d if gate == GATE_KEY else 0)])
                    for f in range(C * D):
                        i, d = f // D, f % D
                        qv = kv = np.float32(0)
                        if i < c:
                            row = (b * N + t0 + i) * H + hq
                            qv = np.float32(scale) * q[row * D + d]
                            kv = k[row * D + d]
                            if gate != GATE_NONE:
                                x = d if gate == GATE_KEY else 0
                                Gi = Gc[((b * N + t0 + i) * Hv + j) * Dg + x]
                                qv = qv * ex(Gi)
                                kv = kv * ex(Gc[last * Dg + x] - Gi)
                        sQg[i * ldd + d] = bf(qv)
                        sKdt[d * LDC + i] = bf(kv)
                    for w in range(4):
                        for lane in range(32):
                            gq, tq = lane // 4, lane % 4
                            for m in range(MT):
                                for n in range(4):
                                    for x in range(4):
                                        d = w * (D // 4) + 16 * m + gq + 8 * (x // 2)
                                        e = 8 * n + 2 * tq + x % 2
                                        sSt[e * ldd + d] = bf(S[w, lane, m, n, x])
                    for w in range(4):
                        if w < nsub:
                            o = np.zeros((32, 4, 4), np.float32)
                            for ks in range(0, D, 16):
                                a = [frag_a(sQg, ldd, 16 * w, ks, lane) for lane in range(32)]
                                for n in range(4):
                                    bb = [frag_b(sSt, ldd, 8 * n, ks, lane) for lane in range(32)]
                                    mma([o[lane, n] for lane in range(32)], a, bb)
                            for ks in range(w + 1):
                                a = [frag_a(sA, LDC, 16 * w, 16 * ks, lane) for lane in range(32)]
                                for n in range(4):
                                    bb = [frag_b(sVt, LDC, 8 * n, 16 * ks, lane) for lane in range(32)]
                                    mma([o[lane, n] for lane in range(32)], a, bb)
                            for lane in range(32):
                                gq, tq = lane // 4, lane % 4
                                for n in range(4):
                                    for h in range(2):
                                        i = 16 * w + gq + 8 * h
                                        if i < c:
                                            p = ((b * N + t0 + i) * Hv + j) * Dv + e0 + 8 * n + 2 * tq
                                            out[p], out[p + 1] = bf(o[lane, n, 2 * h]), bf(o[lane, n, 2 * h + 1])
                        for lane in range(32):
                            gq = lane // 4
                            for m in range(MT):
                                d = w * (D // 4) + 16 * m + gq
                                S[w, lane, m, :, 0:2] *= sDecay[d]
                                S[w, lane, m, :, 2:4] *= sDecay[d + 8]
                        for ks in range(nsub):
                            for m in range(MT):
                                a = [frag_a(sKdt, LDC, w * (D // 4) + 16 * m, 16 * ks, lane) for lane in range(32)]
                                for n in range(4):
                                    bb = [frag_b(sVt, LDC, 8 * n, 16 * ks, lane) for lane in range(32)]
                                    mma([S[w, lane, m, n] for lane in range(32)], a, bb)
                if ht is not None:
                    for w in range(4):
                        for lane in range(32):
                            gq, tq = lane // 4, lane % 4
                            for m in range(MT):
                                for n in range(4):
                                    for h in range(2):
                                        d = w * (D // 4) + 16 * m + gq + 8 * h
                                        e = 8 * n + 2 * tq
                                        ht[st0 + d * Dv + e] = bf(S[w, lane, m, n, 2 * h])
                                        ht[st0 + d * Dv + e + 1] = bf(S[w, lane, m, n, 2 * h + 1])


# ---- cuda (gla_fwd.cu) ------------------------------------------------------------------------

def fma_scores(q, k, g, gate, C, scale, Gc, A):
    """gla_scores_kernel; per-thread ownership of A[ty + 16a][tx + 16bb]."""
    B, N, H, D, Hv = SH['B'], SH['N'], SH['H'], SH['D'], SH['Hv']
    nch, nb = (N + C - 1) // C, C // 16
    for b in range(B):
        for j in range(Hv):
            for chunk in range(nch):
                hq = j // (Hv // H)
                t0 = chunk * C
                c = min(C, N - t0)
                Gh = bounded(np.full(64, np.nan, np.float32))
                if gate == GATE_HEAD:
                    run = np.float32(0)
                    for i in range(c):
                        gi = (b * N + t0 + i) * Hv + j
                        run = np.float32(run + g[gi])
                        Gh[i] = run
                        Gc[gi] = run
                acc = np.zeros((256, 4, 4), np.float32)
                for d0 in range(0, D, 32):
                    sQ = bounded(np.zeros((64, 33), np.float32))
                    sK = bounded(np.zeros((64, 33), np.float32))
                    sG = bounded(np.zeros((64, 33), np.float32))
                    for f in range(C * 32):
                        i, dd = f // 32, f % 32
                        row = (b * N + t0 + i) * H + hq
                        if i < c:
                            sQ[i, dd], sK[i, dd] = q[row * D + d0 + dd], k[row * D + d0 + dd]
                            if gate == GATE_KEY:
                                sG[i, dd] = g[((b * N + t0 + i) * Hv + j) * D + d0 + dd]
                    if gate == GATE_KEY:
                        for tid in range(32):
                            run = np.float32(0)
                            for i in range(c):
                                run = np.float32(run + sG[i, tid])
                                sG[i, tid] = run
                                Gc[((b * N + t0 + i) * Hv + j) * D + d0 + tid] = run
                    for tid in range(256):
                        ty, tx = tid // 16, tid % 16
                        for a in range(4):
                            for bb in range(4):
                                i, jj = ty + 16 * a, tx + 16 * bb
                                if a < nb and bb < nb and jj <= i and i < c:
                                    MACS[0] += 32
                                    if gate == GATE_KEY:
                                        acc[tid, a, bb] += np.sum(sQ[i, :32] * sK[jj, :32] *
                                                                  ex(sG[i, :32] - sG[jj, :32]))
                                    else:
                                        acc[tid, a, bb] += np.dot(sQ[i, :32], sK[jj, :32])
                base = ((b * Hv + j) * nch + chunk) * C * C
                for tid in range(256):
                    ty, tx = tid // 16, tid % 16
                    for a in range(4):
                        for bb in range(4):
                            i, jj = ty + 16 * a, tx + 16 * bb
                            if a < nb and bb < nb:
                                x = 0.0
                                if jj <= i and i < c:
                                    x = acc[tid, a, bb] * scale * (ex(Gh[i] - Gh[jj]) if gate == GATE_HEAD else 1)
                                A[base + i * C + jj] = x


def fma_chunk(q, k, v, h0, Gc, A, gate, C, scale, out, ht):
    """gla_chunk_kernel; threads (ty, tx) own O[ty + 16a][4tx + u] and S rows d0 + ty + 16r."""
    B, N, H, D, Hv, Dv = SH['B'], SH['N'], SH['H'], SH['D'], SH['Hv'], SH['Dv']
    nch, nb = (N + C - 1) // C, C // 16
    Dg = D if gate == GATE_KEY else 1
    VS = 36
    for b in range(B):
        for j in range(Hv):
            for e0 in range(0, Dv, 32):
                hq = j // (Hv // H)
                st0 = (b * Hv + j) * D * Dv + e0
                sS = bounded(np.zeros(D * VS, np.float32))
                for f in range(D * 32):
                    d, x = f // 32, f % 32
                    sS[d * VS + x] = h0[st0 + d * Dv + x] if h0 is not None else 0
                for chunk in range(nch):
                    t0 = chunk * C
                    c = min(C, N - t0)
                    last = (b * N + t0 + c - 1) * Hv + j
                    sV = bounded(np.zeros(64 * VS, np.float32))
                    sA = bounded(np.zeros(64 * 65, np.float32))
                    for f in range(C * 32):
                        i, x = f // 32, f % 32
                        sV[i * VS + x] = v[((b * N + t0 + i) * Hv + j) * Dv + e0 + x] if i < c else 0
                    Ab = ((b * Hv + j) * nch + chunk) * C * C
                    for f in range(C * C):
                        sA[(f // C) * 65 + f % C] = A[Ab + f]
                    sDecay = bounded(np.array([1 if gate == GATE_NONE else ex(Gc[last * Dg + (d if gate == GATE_KEY else 0)])
                                               for d in range(D)], np.float32))
                    o = np.zeros((128, 4, 4), np.float32)
                    for d0 in range(0, D, 32):
                        sQ = bounded(np.zeros(64 * 33, np.float32))
                        sK = bounded(np.zeros(64 * 33, np.float32))
                        for f in range(C * 32):
                            i, dd = f // 32, f % 32
                            qv = kv = np.float32(0)
                            if i < c:
                                row = (b * N + t0 + i) * H + hq
                                gi = (b * N + t0 + i) * Hv + j
                                qv = np.float32(scale) * q[row * D + d0 + dd]
                                kv = k[row * D + d0 + dd]
                                if gate != GATE_NONE:
                                    x = d0 + dd if gate == GATE_KEY else 0
                                    Gi = Gc[gi * Dg + x]
                                    qv *= ex(Gi)
                                    kv *= ex(Gc[last * Dg + x] - Gi)
                            sQ[i * 33 + dd], sK[i * 33 + dd] = qv, kv
                        for tid in range(128):
                            ty, tx = tid // 8, tid % 8
                            e = 4 * tx
                            for dd in range(32):
                                s4 = sS[(d0 + dd) * VS + e: (d0 + dd) * VS + e + 4]
                                for a in range(4):
                                    xq = sQ[(ty + 16 * a) * 33 + dd] if a < nb else 0
                                    o[tid, a] += xq * s4
                                    MACS[0] += 4
                        newS = sS.copy()
                        for tid in range(128):
                            ty, tx = tid // 8, tid % 8
                            e = 4 * tx
                            for r in range(32 // 16):
                                dd = ty + 16 * r
                                s4 = sS[(d0 + dd) * VS + e: (d0 + dd) * VS + e + 4] * sDecay[d0 + dd]
                                for i in range(c):
                                    s4 = s4 + sK[i * 33 + dd] * sV[i * VS + e: i * VS + e + 4]
                                    MACS[0] += 4
                                newS[(d0 + dd) * VS + e: (d0 + dd) * VS + e + 4] = s4
                        sS = newS
                    for tid in range(128):
                        ty, tx = tid // 8, tid % 8
                        e = 4 * tx
                        for jj in range(c):
                            v4 = sV[jj * VS + e: jj * VS + e + 4]
                            for a in range(4):
                                xa = sA[(ty + 16 * a) * 65 + jj] if a < nb else 0
                                o[tid, a] += xa * v4
                                MACS[0] += 4
                        for a in range(4):
                            i = ty + 16 * a
                            if a < nb and i < c:
                                p = ((b * N + t0 + i) * Hv + j) * Dv + e0 + e
                                out[p:p + 4] = ROUND(o[tid, a])
                if ht is not None:
                    for f in range(D * 32):
                        d, x = f // 32, f % 32
                        ht[st0 + d * Dv + x] = ROUND(sS[d * VS + x])


# ---- decode (gla_decode.cu) ----------------------------------------------------------------

def decode(q, k, v, g, h0, gate, scale, out, ht):
    B, N, H, D, Hv, Dv = SH['B'], SH['N'], SH['H'], SH['D'], SH['Hv'], SH['Dv']
    R = D // 4
    for b in range(B):
        for j in range(Hv):
            for e0 in range(0, Dv, 64):
                hq = j // (Hv // H)
                st0 = (b * Hv + j) * D * Dv + e0
                S = np.zeros((256, R), np.float32)
                for tid in range(256):
                    rg, x = tid // 64, tid % 64
                    for r in range(R):
                        S[tid, r] = h0[st0 + tid % 64 + (rg + 4 * r) * Dv] if h0 is not None else 0
                for t in range(N):
                    tok = b * N + t
                    sq = bounded(np.array([scale * q[(tok * H + hq) * D + d] for d in range(D)], np.float32))
                    sk = bounded(np.array([k[(tok * H + hq) * D + d] for d in range(D)], np.float32))
                    gv = [g[(tok * Hv + j) * D + d] if gate == GATE_KEY else g[tok * Hv + j]
                          if gate == GATE_HEAD else 0 for d in range(D)]
                    sdecay = bounded(np.array([ex(x) for x in gv], np.float32))
                    sv = bounded(np.array([v[(tok * Hv + j) * Dv + e0 + i] for i in range(64)], np.float32))
                    red = bounded(np.zeros((4, 64), np.float32))
                    for tid in range(256):
                        rg, x = tid // 64, tid % 64
                        o = np.float32(0)
                        for r in range(R):
                            d = rg + 4 * r
                            S[tid, r] = sk[d] * sv[x] + S[tid, r] * sdecay[d]
                            o += sq[d] * S[tid, r]
                            MACS[0] += 2
                        red[rg, x] = o
                    for x in range(64):
                        out[(tok * Hv + j) * Dv + e0 + x] = ROUND(red[:, x].sum())
                if ht is not None:
                    for tid in range(256):
                        rg, x = tid // 64, tid % 64
                        for r in range(R):
                            ht[st0 + x + (rg + 4 * r) * Dv] = ROUND(S[tid, r])


# ---- driver ---------------------------------------------------------------------------------

SH = {}
ROUND = bf
passed = failed = 0


def check(name, got, want, tol):
    global passed, failed
    e = np.linalg.norm(got.ravel() - want.ravel()) / np.linalg.norm(want.ravel())
    ok = np.all(np.isfinite(got)) and e < tol
    passed += ok
    failed += not ok
    print(('ok  ' if ok else 'FAIL') + ' %-60s rel %.2e' % (name, e), file=sys.stderr)


def case(impl, B, N, H, Hv, D, Dv, C, gate, state, dtype, gval=None, seed=1):
    global ROUND, failed
    SH.update(B=B, N=N, H=H, Hv=Hv, D=D, Dv=Dv)
    rng = np.random.default_rng(seed)
    rnd = bf if dtype == 'bf16' else (lambda x: np.asarray(x, np.float32))
    ROUND = rnd
    q = rnd(rng.uniform(-1.7, 1.7, (B, N, H, D)))
    k = rnd(rng.uniform(-1.7, 1.7, (B, N, H, D)))
    v = rnd(rng.uniform(-1.7, 1.7, (B, N, Hv, Dv)))
    gshape = (B, N, Hv, D) if gate == GATE_KEY else (B, N, Hv)
    g = rnd(rng.uniform(-0.7, -0.01, gshape) if gval is None else np.full(gshape, gval)) \
        if gate != GATE_NONE else None
    h0 = rnd(rng.uniform(-0.5, 0.5, (B, Hv, D, Dv))) if state else None
    scale = 1 / np.sqrt(D)
    want, want_ht = recurrence(q, k, v, g, h0, gate, scale)
    out = bounded(np.full(B * N * Hv * Dv, np.nan, np.float32))
    ht = bounded(np.full(B * Hv * D * Dv, np.nan, np.float32)) if state else None
    fl = [bounded(x.ravel()) if x is not None else None for x in (q, k, v, g, h0)]
    nch = (N + C - 1) // C
    Dg = D if gate == GATE_KEY else 1 if gate == GATE_HEAD else 0
    Gc = bounded(np.full(B * N * Hv * Dg, np.nan, np.float32))
    A = bounded(np.full(B * Hv * nch * C * C, np.nan, np.float32))
    tol = 2e-2 if dtype == 'bf16' else 1e-4
    name = '%s %s B=%d N=%d H=%d Hv=%d D=%d Dv=%d C=%d gate=%s%s%s' % (
        impl, dtype, B, N, H, Hv, D, Dv, C, ('none', 'head', 'key')[gate], ' state' if state else '',
        '' if gval is None else ' g=%g' % gval)
    MACS[0] = 0
    try:
        if impl == 'cuda-opt':
            mma_scores(fl[0], fl[1], fl[3], gate, C, scale, Gc, A)
            mma_chunk(fl[0], fl[1], fl[2], fl[4], Gc, A, gate, C, scale, out, ht)
        elif impl == 'cuda':
            fma_scores(fl[0], fl[1], fl[3], gate, C, scale, Gc, A)
            fma_chunk(fl[0], fl[1], fl[2], fl[4], Gc, A, gate, C, scale, out, ht)
        else:
            decode(fl[0], fl[1], fl[2], fl[3], fl[4], gate, scale, out, ht)
    except IndexError as e:             # an access outside its buffer (emu_bounds)
        failed += 1
        print('FAIL %-60s out of bounds: %s' % (name, e), file=sys.stderr)
        return
    check(name, out, want, tol)
    if state:
        check(name + ' ht', ht, want_ht, tol)
    # The case as bench's flags, then the count (tests/gla.sh).
    print('macs %s %s %s --B %d --N %d --H %d --Hv %d --D %d --Dv %d --chunk %d%s%s = %d' % (
        'linear' if gate == GATE_NONE else 'gated', impl, dtype, B, N, H, Hv, D, Dv, C,
        '' if gate == GATE_NONE else ' --gate ' + ('none', 'head', 'key')[gate],
        ' --state' if state else '', MACS[0]))


def main():
    global passed, failed
    ok = selftest()
    passed += ok
    failed += not ok
    print(('ok  ' if ok else 'FAIL') + ' emu_bounds: out-of-range indices raise', file=sys.stderr)
    for gate in (GATE_NONE, GATE_HEAD, GATE_KEY):
        case('cuda-opt', 1, 80, 1, 2, 64, 64, 64, gate, 1, 'bf16')
        case('cuda', 1, 80, 1, 2, 64, 64, 64, gate, 1, 'fp32')
        case('decode', 1, 3, 1, 2, 64, 64, 64, gate, 1, 'fp32')
    case('cuda-opt', 1, 40, 1, 1, 128, 64, 32, GATE_KEY, 0, 'bf16')
    case('cuda-opt', 1, 70, 1, 1, 64, 64, 64, GATE_KEY, 1, 'bf16', gval=-20.0)
    case('cuda-opt', 1, 70, 1, 1, 64, 64, 16, GATE_HEAD, 1, 'bf16', gval=-1e4)
    case('cuda', 1, 50, 1, 1, 64, 64, 32, GATE_KEY, 0, 'bf16', gval=-20.0)
    case('cuda-opt', 2, 20, 1, 1, 256, 128, 48, GATE_KEY, 1, 'bf16')
    case('cuda', 2, 20, 2, 2, 256, 128, 16, GATE_HEAD, 1, 'fp32')
    case('decode', 1, 2, 1, 1, 64, 64, 64, GATE_KEY, 1, 'bf16', gval=-1e-6)
    case('cuda', 1, 10, 1, 1, 64, 128, 16, GATE_NONE, 0, 'fp32')          # N < C, one partial chunk
    case('cuda-opt', 1, 10, 1, 2, 64, 32 * 3, 32, GATE_HEAD, 0, 'bf16')   # N < C; Dv = 3 slices
    case('decode', 2, 5, 2, 2, 128, 128, 64, GATE_HEAD, 0, 'fp32')       # no h0; 2 Dv slices
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
