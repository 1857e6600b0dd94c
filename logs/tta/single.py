"""One network's top-1 under sets of test-time views (session 17): python logs/tta/single.py everyday50-resnet-seed2"""
import torch, glob, sys
run = sys.argv[1]
y = torch.load('/tmp/tta/labels.pt')
L = {p.split(run+'-')[1][:-3]: torch.load(p).log_softmax(1) for p in glob.glob(f'/tmp/tta/{run}-*.pt')}
def acc(names, mode='logit'):
    lg = torch.stack([L[n] for n in names])
    if mode == 'prob': s = lg.exp().mean(0)
    else: s = lg.mean(0)
    return float((s.argmax(1) == y).float().mean())
base = ['id','id-f']
print('flip', acc(base))
cur = ['id','id-f','s+1+1','s+1+1-f','s-1-1','s-1-1-f']
print('airbench tta2 (equal weights)', acc(cur))
for d in (1,2,3,4):
    sh = [f's{a:+d}{b:+d}'.replace('+-','-') for a,b in ((d,d),(-d,-d),(d,-d),(-d,d))]
    sh = [k for k in L if k.startswith('s') and k.lstrip('s').split('-f')[0] in [f'{a:+d}{b:+d}' for a,b in ((d,d),(-d,-d),(d,-d),(-d,d))]]
    print('flip+4diag d', d, len(sh), acc(base+sh))
allsh = [k for k in L if k.startswith('s') and int(k[2]) <= 2]
print('flip+ all d<=2', len(allsh), acc(base+allsh))
allsh = [k for k in L if k.startswith('s')]
print('flip+ all shifts', len(allsh), acc(base+allsh), acc(base+allsh,'prob'))
print('+o56', acc(base+allsh+['o56','o56-f']))
print('+z60', acc(base+allsh+['z60','z60-f']))
