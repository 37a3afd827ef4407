"""Independent check of a `bench run --dump` folder: recompute attention in
float64 NumPy from q.npy, k.npy, v.npy and case.json, compare with out.npy
and ref.npy. Exit 0 when both agree within the dtype's tolerance."""
import json, sys
import numpy as np

d = sys.argv[1]
case = json.load(open(f"{d}/case.json"))
q, k, v = (np.load(f"{d}/{n}.npy").astype(np.float64) for n in "qkv")
out, ref = np.load(f"{d}/out.npy"), np.load(f"{d}/ref.npy")
B, N, H, D = q.shape
Nk, Hkv = k.shape[1], k.shape[2]
g = H // Hkv
kk, vv = np.repeat(k, g, axis=2), np.repeat(v, g, axis=2)
s = np.einsum("bnhd,bjhd->bhnj", q, kk) * case["scale"]
if case["causal"]:
    allowed = np.arange(Nk)[None, :] <= np.arange(N)[:, None] + (Nk - N)
    s = np.where(allowed[None, None], s, -np.inf)
p = np.exp(s - s.max(-1, keepdims=True))
p /= p.sum(-1, keepdims=True)
o = np.einsum("bhnj,bjhd->bnhd", p, vv)
tol = 1e-4 if case["dtype"] == "fp32" else 1e-2
err_out = np.linalg.norm(out - o) / np.linalg.norm(o)
rows = np.load(f"{d}/ref_rows.npy") if case.get("sampled") else np.arange(B * N)
err_ref = np.linalg.norm(ref - o.reshape(B * N, H, -1)[rows]) / np.linalg.norm(o)
print(f"out vs numpy {err_out:.2e}, ref vs numpy {err_ref:.2e}")
sys.exit(0 if err_out < tol and err_ref < 1e-12 else 1)
