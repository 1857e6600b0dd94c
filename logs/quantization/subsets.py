import sys, torch, itertools
data, tta, fmt = sys.argv[1], sys.argv[2], sys.argv[3]
runs = sys.argv[4:]
labels = torch.load(f"/tmp/logits/{data}-labels.pt")
P = {r: torch.load(f"/tmp/logits/{r}-{fmt}-tta{tta}.pt").softmax(1) for r in runs}
for r in runs: print(r, round(float((P[r].argmax(1)==labels).float().mean())*100, 2))
res = []
for k in range(2, len(runs)+1):
    for c in itertools.combinations(runs, k):
        p = sum(P[r] for r in c) / k
        res.append((round(float((p.argmax(1)==labels).float().mean())*100, 2), c))
for acc, c in sorted(res, reverse=True)[:15]: print(acc, c)
