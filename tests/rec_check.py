"""rec_check.py DIR... — an independent float64 NumPy transcription of the
recurrent families' definition (reference/recurrent.h), checked against the
dumped reference rows (ref.npy, ref_ht.npy) and the implementation's output
(out.npy, ht.npy) of each `bench run ... --dump DIR` folder. Exit 1 when any
disagrees: the reference to 1e-12, the output within the fp32 tolerance."""
import numpy as np, json, sys
bad = 0
for d in sys.argv[1:]:
    c=json.load(open(d+'/case.json')); fam=c['family']
    q=np.load(d+'/q.npy').astype(np.float64); k=np.load(d+'/k.npy').astype(np.float64); v=np.load(d+'/v.npy').astype(np.float64)
    B,N,H,D=q.shape; Hv,Dv=v.shape[2],v.shape[3]
    g=np.load(d+'/g.npy').astype(np.float64) if 'g' in c['inputs'] else None
    beta=np.load(d+'/beta.npy').astype(np.float64) if 'beta' in c['inputs'] else None
    h0=np.load(d+'/h0.npy').astype(np.float64) if 'h0' in c['inputs'] else np.zeros((B,Hv,D,Dv))
    out=np.zeros((B,N,Hv,Dv)); ht=np.zeros((B,Hv,D,Dv))
    for b in range(B):
        for j in range(Hv):
            hq=j//(Hv//H); S=h0[b,j].copy()
            for t in range(N):
                if g is not None:
                    gg=g[b,t,j]
                    S = (np.exp(gg)[:,None]*S) if np.ndim(gg)==1 else np.exp(gg)*S
                kk=k[b,t,hq]
                if beta is not None:
                    S = S + beta[b,t,j]*np.outer(kk, v[b,t,j]-kk@S)
                else:
                    S = S + np.outer(kk, v[b,t,j])
                out[b,t,j]=c['scale']*(q[b,t,hq]@S)
            ht[b,j]=S
    ref=np.load(d+'/ref.npy'); o=np.load(d+'/out.npy')
    rows=np.load(d+'/ref_rows.npy') if c.get('sampled') else np.arange(B*N)
    e1=np.linalg.norm(ref.reshape(-1)-out.reshape(B*N,-1)[rows].reshape(-1))/np.linalg.norm(out)
    e0=np.linalg.norm(o-out)/np.linalg.norm(out)
    has_ht='h0' in c['inputs']
    e2=np.linalg.norm(np.load(d+'/ref_ht.npy')-ht)/np.linalg.norm(ht) if has_ht else 0.0
    e3=np.linalg.norm(np.load(d+'/ht.npy')-ht)/np.linalg.norm(ht) if has_ht else 0.0
    print(d, fam, 'out %.2e  ref %.2e  ref_ht %.2e  ht %.2e' % (e0,e1,e2,e3))
    bad += not (e1 < 1e-12 and e2 < 1e-12 and e0 < 1e-4 and e3 < 1e-4)
sys.exit(1 if bad else 0)
