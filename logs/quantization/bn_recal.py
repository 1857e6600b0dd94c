"""Simulate int4 (float16 scale per G weights) followed by re-estimating BatchNorm statistics on N training images
(the carved train split, never the validation images); saves validation logits like member_logits.py."""
import sys, os, torch
sys.path.insert(0, '.')
sys.path.insert(0, os.path.dirname(__file__))
torch.set_num_threads(int(os.environ.get("THREADS", "1")))
from core.checkpoint import load_checkpoint
from core.evaluate import load_eval_set, predict_logits
from core.predict import to_model_input
from member_logits_q import q4g  # noqa


def recalibrate(model, images, mean, std, n=4096, batch=256):
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats(); m.momentum = None
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(images), generator=g)[:n]
    model.train()
    with torch.no_grad():
        for i in range(0, n, batch):
            x = to_model_input(images[idx[i:i + batch]], mean, std).contiguous(memory_format=torch.channels_last)
            model(torch.cat([x, x.flip(3)]))
    model.eval()


data, tta, group, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for run in sys.argv[5:]:
    out = f"/tmp/logits/{os.path.basename(run)}-int4g{group}bn{n}-tta{tta}.pt"
    if os.path.exists(out):
        continue
    ck = load_checkpoint(run)
    val = load_eval_set(ck, data, "val")
    train = load_eval_set(ck, data, "train")
    state = ck.model.state_dict()
    ck.model.load_state_dict({k: (q4g(v, group) if v.is_floating_point() and v.dim() >= 2 and v.numel() >= 1024 else v)
                              for k, v in state.items()})
    recalibrate(ck.model, train.images, ck.mean, ck.std, n)
    lg = predict_logits(ck.model, val.images, ck.mean, ck.std, tta=tta, autocast=True)
    torch.save(lg, out)
    print(run, f"int4g{group}bn{n}", float((lg.argmax(1) == val.labels).float().mean()), flush=True)
