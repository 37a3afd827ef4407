"""Independent check of an ssm `bench run --dump` folder: recompute the
variant in float64 NumPy from its .npy inputs and case.json (s6 and ssd by
their recurrences, vectorised over channels/heads; conv by NumPy's FFT),
compare with out.npy (within the dtype's tolerance), ref.npy (float64: to
1e-9) and, with a state, ht.npy and ref_ht.npy; the tensors' shapes must be
the layouts reference/ssm.h documents. Prints one "ok ..." or "FAIL ..."
line (tests/lib.bash's numpy_run) and exits 0 when everything agrees."""
import json, sys
import numpy as np

d = sys.argv[1]
case = json.load(open(f"{d}/case.json"))
ld = lambda n: np.load(f"{d}/{n}.npy").astype(np.float64)
B, L, v = case["B"], case["N"], case["variant"]
silu = lambda z: z / (1 + np.exp(-z))
errors = []


def shape(name, arr, want):
    if arr.shape != tuple(want):
        errors.append(f"{name}.npy has shape {arr.shape}, want {tuple(want)}")


ht = None
if v == "s6":
    Dm, Ds, G = case["Dm"], case["Ds"], case["G"]
    u, dl, A, Bm, Cm, Dv = (ld(n) for n in ("u", "delta", "A", "B", "C", "D"))
    shape("u", u, (B, Dm, L)), shape("delta", dl, (B, Dm, L)), shape("A", A, (Dm, Ds))
    bc = (B, Ds, L) if G == 1 else (B, G, Ds, L)
    shape("B", Bm, bc), shape("C", Cm, bc), shape("D", Dv, (Dm,))
    Bm, Cm = Bm.reshape(B, G, Ds, L), Cm.reshape(B, G, Ds, L)
    grp = np.arange(Dm) // (Dm // G)
    h = ld("h0") if case["state"] else np.zeros((B, Dm, Ds))
    if case["state"]:
        shape("h0", h, (B, Dm, Ds))
    y = np.empty((B, Dm, L))
    for t in range(L):
        Bt, Ct = Bm[..., t][:, grp], Cm[..., t][:, grp]      # [B, Dm, Ds]
        h = np.exp(dl[:, :, t, None] * A) * h + (dl[:, :, t] * u[:, :, t])[..., None] * Bt
        y[:, :, t] = (Ct * h).sum(-1) + Dv * u[:, :, t]
    if case["z"]:
        y *= silu(ld("z"))
    ht, rows_of = h, lambda a: a.reshape(B * Dm, L)
elif v == "ssd":
    H, P, Ds, G = case["H"], case["P"], case["Ds"], case["G"]
    x, dt, A, Bm, Cm = (ld(n) for n in ("x", "dt", "A", "B", "C"))
    shape("x", x, (B, L, H, P)), shape("dt", dt, (B, L, H)), shape("A", A, (H,))
    shape("B", Bm, (B, L, G, Ds)), shape("C", Cm, (B, L, G, Ds))
    grp = np.arange(H) // (H // G)
    S = ld("h0") if case["state"] else np.zeros((B, H, P, Ds))
    y = np.empty((B, L, H, P))
    for t in range(L):
        a = np.exp(dt[:, t] * A)                             # [B, H]
        S = a[..., None, None] * S + (dt[:, t, :, None] * x[:, t])[..., None] * Bm[:, t, grp, None, :]
        y[:, t] = np.einsum("bhpn,bhn->bhp", S, Cm[:, t, grp])
    if case["skip"]:
        y += ld("D")[:, None] * x
    if case["z"]:
        y *= silu(ld("z"))
    ht, rows_of = S, lambda a: a.reshape(B * L, H * P)
else:
    H = case["H"]
    u, k = ld("u"), ld("k")
    shape("u", u, (B, L, H)), shape("k", k, (H, L))
    n = 2 * L
    y = np.fft.irfft(np.fft.rfft(u, n, axis=1) * np.fft.rfft(k.T, n, axis=0)[None], n, axis=1)[:, :L]
    rows_of = lambda a: a.reshape(B * L, H)

out, ref = np.load(f"{d}/out.npy"), np.load(f"{d}/ref.npy")
shape("out", out, y.shape)
tol = 1e-4 if case["dtype"] == "fp32" else 2e-2
rel = lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(b)
e_out = rel(out, y)
rows = np.load(f"{d}/ref_rows.npy") if case.get("sampled") else np.arange(rows_of(y).shape[0])
e_ref = rel(ref.reshape(len(rows), -1), rows_of(y)[rows])
msg = f"{v}: out vs numpy {e_out:.2e}, ref vs numpy {e_ref:.2e}"
ok = e_out < tol and e_ref < 1e-9
if ht is not None and case["state"]:
    got, want = np.load(f"{d}/ht.npy"), np.load(f"{d}/ref_ht.npy")
    shape("ht", got, ht.shape)
    e_ht, e_rht = rel(got, ht), rel(want, ht)
    msg += f", ht {e_ht:.2e}, ref_ht {e_rht:.2e}"
    ok = ok and e_ht < tol and e_rht < 1e-9
good = ok and not errors
print(("ok " if good else "FAIL ") + msg + "".join("; " + e for e in errors))
sys.exit(0 if good else 1)
