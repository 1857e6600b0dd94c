import torch


def q4g(w, group=32, bits=4, mse=False):
    qmax = 2 ** (bits - 1) - 1
    o = w.shape[0]; f = w.reshape(o, -1); n = f.shape[1]
    g = group if n % group == 0 else n
    f = f.reshape(o, n // g, g)
    amax = f.abs().amax(-1, keepdim=True).clamp_min(1e-12)
    best, best_err = None, None
    for c in ([1.0] if not mse else [1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65]):
        s = (amax * c / qmax).half().float()
        q = (f / s).round().clamp(-qmax, qmax) * s
        err = (q - f).pow(2).sum(-1, keepdim=True)
        if best is None:
            best, best_err = q, err
        else:
            take = err < best_err
            best = torch.where(take, q, best); best_err = torch.where(take, err, best_err)
    return best.reshape(w.shape)
