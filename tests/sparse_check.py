"""Independent check of `bench run sparse|flash --dump` folders, from the
files alone: the block mask regenerated from case.json (the random
pattern's splitmix64 draws, the streaming patterns' definitions in
reference/sparse.h), then attention recomputed in float64 NumPy as the
dense masked softmax (-inf outside the allowed pairs, a row that sees no
key 0) and compared with ref.npy and out.npy; flash's window and sinks
likewise from FlashAttention's window_size = (W - 1, 0) plus S sinks.
Prints one "ok ..." or "FAIL ..." line per check."""
import json, sys
import numpy as np

M64 = (1 << 64) - 1
SEED = 0x5EB5A25E0B10C4D5


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def block_mask(c, mB, mH, QB, KB):
    """The mask reference/sparse.h defines, from the shape fields alone."""
    N, Nk, bq, bk, W, S, dens = c["N"], c["Nk"], c["bq"], c["bk"], c["window"], c["sink"], c["density"]
    shift = Nk - N
    m = np.zeros((mB, mH, QB, KB), np.uint8)
    for mb in range(mB):
        for mh in range(mH):
            pat = c["pattern"]
            if pat == "mixed":
                pat = "dense" if (mh + 1) * dens // 100 > mh * dens // 100 else "sink"
            for qb in range(QB):
                r0, r1 = qb * bq, min(N, (qb + 1) * bq) - 1
                hi = r1 + shift if c["causal"] else Nk - 1
                for kb in range(hi // bk + 1):
                    k0, k1 = kb * bk, kb * bk + bk - 1
                    win = k1 >= r0 + shift - W + 1
                    if pat == "random":
                        cell = ((mb * mH + mh) * QB + qb) * KB + kb
                        x = splitmix64((SEED + cell * 0x9E3779B97F4A7C15) & M64)
                        keep = (x >> 11) * 100 < dens << 53
                    elif pat == "dense":
                        keep = True
                    elif pat == "window":
                        keep = win
                    elif pat == "sink":
                        keep = win or k0 < S
                    else:  # strided
                        stride = (100 + dens // 2) // dens if dens else 0
                        keep = win or (stride and (hi // bk - kb) % stride == 0)
                    m[mb, mh, qb, kb] = keep
    return m


def check(d):
    c = json.load(open(f"{d}/case.json"))
    q, k, v = (np.load(f"{d}/{n}.npy").astype(np.float64) for n in "qkv")
    out, ref = np.load(f"{d}/out.npy"), np.load(f"{d}/ref.npy")
    B, N, H, _ = q.shape
    Nk, Hkv = k.shape[1], k.shape[2]
    i = np.arange(N)[:, None]
    j = np.arange(Nk)[None, :]
    allowed = np.ones((1, 1, N, Nk), bool)
    if c["causal"]:
        allowed &= j <= i + Nk - N
    what = c["case"]
    if c["family"] == "sparse":
        m = np.load(f"{d}/block_mask.npy")
        QB, KB = -(-N // c["bq"]), -(-Nk // c["bk"])
        mB = B if c["pattern"] == "random" else 1
        mH = H if c["pattern"] in ("random", "mixed") else 1
        want = block_mask(c, mB, mH, QB, KB)
        print(("ok" if m.dtype == np.uint8 and m.shape == want.shape and (m == want).all() else "FAIL")
              + f" block_mask.npy {m.dtype} {m.shape} is the mask of {what}")
        if m.shape != want.shape:
            return
        full = np.repeat(np.repeat(m.astype(bool), c["bq"], axis=2)[:, :, :N], c["bk"], axis=3)[..., :Nk]
        allowed = allowed & full
    elif c.get("window", 0) > 0:
        diag = i + Nk - N
        allowed &= (j > diag - c["window"]) | (j < c["sink"])
    g = H // Hkv
    kk, vv = np.repeat(k, g, axis=2), np.repeat(v, g, axis=2)
    s = np.einsum("bnhd,bjhd->bhnj", q, kk) * c["scale"]
    s = np.where(allowed, s, -np.inf)
    mx = s.max(-1, keepdims=True)
    p = np.exp(s - np.where(np.isfinite(mx), mx, 0))
    l = p.sum(-1, keepdims=True)
    p = np.where(l > 0, p / np.where(l > 0, l, 1), 0)
    o = np.einsum("bhnj,bjhd->bnhd", p, vv)
    empty = int((l == 0).sum())
    tol = {"fp32": 1e-4, "bf16": 1e-2, "fp16": 1e-3}[c["dtype"]]
    norm = np.linalg.norm(o) or 1.0
    err_out = np.linalg.norm(out - o) / norm
    rows = np.load(f"{d}/ref_rows.npy") if c.get("sampled") else np.arange(B * N)
    err_ref = np.linalg.norm(ref - o.reshape(B * N, H, -1)[rows]) / norm
    print(("ok" if err_out < tol else "FAIL") + f" out.npy vs NumPy {err_out:.2e} ({what}, {empty} rows see no key)")
    print(("ok" if err_ref < 1e-12 else "FAIL") + f" ref.npy vs NumPy {err_ref:.2e} ({what})")


for folder in sys.argv[1:]:
    check(folder)
