import sys, torch, os
sys.path.insert(0, '.')
sys.path.insert(0, os.path.dirname(__file__))
torch.set_num_threads(1)
from core.checkpoint import load_checkpoint
from core.evaluate import load_eval_set, predict_logits
from member_logits_q import q4g  # noqa: E402


data, tta, fmts = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
os.makedirs("/tmp/logits", exist_ok=True)
for run in sys.argv[4:]:
    ck = load_checkpoint(run)
    val = load_eval_set(ck, data, "val")
    torch.save(val.labels, f"/tmp/logits/{data}-labels.pt")
    state = {k: v.clone() for k, v in ck.model.state_dict().items()}
    for fmt in fmts:
        out = f"/tmp/logits/{os.path.basename(run)}-{fmt}-tta{tta}.pt"
        if os.path.exists(out): continue
        # int4gG[mse][@prefix+prefix]: int4 only for the tensors named so (the others int8, per output channel)
        spec, _, only = fmt.partition("@")
        only = tuple(only.split("+")) if only else ()
        s2 = {}
        for k, v in state.items():
            if not (spec.startswith("int4g") and v.is_floating_point() and v.dim() >= 2 and v.numel() >= 1024):
                s2[k] = v
            elif not only or k.startswith(only):
                s2[k] = q4g(v, int(spec[5:].removesuffix("mse")), mse=spec.endswith("mse"))
            else:
                s2[k] = q4g(v, v[0].numel(), bits=8)
        ck.model.load_state_dict(s2)
        lg = predict_logits(ck.model, val.images, ck.mean, ck.std, tta=tta, autocast=True)
        torch.save(lg, out)
        print(run, fmt, float((lg.argmax(1) == val.labels).float().mean()), flush=True)
