#!/usr/bin/env python3
"""Minimal HPROF reader for tunnels.sh's heap dumps (DIAG=dir DUMP=1): what an open tunnel holds.

  hprof.py FILE [N]                           shallow class histogram, top N (compressed-oops sizes)
  hprof.py FILE N CLASS FIELD[.FIELD...] ...  also: the classes of the objects reached by that field path
Environment: REFS=CLASS (or byte[], [Ljava.lang.Object;): which CLASS.field point at its instances,
with distinct targets (MIN=n: arrays of at least n elements); TASK=CLASS with
REFS=io.netty.util.concurrent.ScheduledFutureTask: only tasks whose task field is of that class;
SHOW=n: a few byte[] of length n, printed. Python 3 only, no packages; reads the file by mmap.

  hprof.py diff IDLE PEAK N [TOP]             per tunnel: (PEAK - IDLE) / N instances and shallow bytes
                                              per class, largest first (tunnels.sh DUMP=1 writes
                                              a-idle.hprof / a.hprof and b-idle.hprof / b.hprof)
"""
import sys, struct, collections, mmap, subprocess
if sys.argv[1] == 'diff':  # each dump read by its own process (the reader keeps everything in dicts)
    def hist_of(path):
        out = subprocess.run([sys.executable, __file__, path, '1000000'], capture_output=True, text=True, check=True).stdout
        h = {}
        for line in out.splitlines()[1:]:
            n, b, nm = line.split(None, 2)
            h[nm] = (int(n), int(b))
        return h
    idle, peak, n = hist_of(sys.argv[2]), hist_of(sys.argv[3]), int(sys.argv[4])
    top = int(sys.argv[5]) if len(sys.argv) > 5 else 60
    rows = []
    for nm in set(idle) | set(peak):
        (ci, bi), (cp, bp) = idle.get(nm, (0, 0)), peak.get(nm, (0, 0))
        rows.append(((bp - bi) / n, (cp - ci) / n, nm))
    rows.sort(reverse=True)
    print(f'per tunnel, {n} tunnels: {sum(r[0] for r in rows):.0f} B in {sum(r[1] for r in rows):.1f} objects')
    for b, c, nm in rows[:top]:
        print(f'{c:8.2f} {b:8.1f}  {nm}')
    sys.exit(0)
f = open(sys.argv[1], 'rb'); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
p = m.find(b'\0') + 1
idsz = struct.unpack('>I', m[p:p+4])[0]; p += 12
assert idsz == 8
strings = {}; cname = {}; classes = {}
inst = {}; objarr = {}; prim = {}; poff = {}
TS = {2: 8, 4: 1, 5: 2, 6: 4, 7: 8, 8: 1, 9: 2, 10: 4, 11: 8}
PN = {4: 'boolean[]', 5: 'char[]', 6: 'float[]', 7: 'double[]', 8: 'byte[]', 9: 'short[]', 10: 'int[]', 11: 'long[]'}
hist = collections.Counter(); hbytes = collections.Counter()
L = len(m)
while p < L:
    tag = m[p]; ln = struct.unpack('>I', m[p+5:p+9])[0]; p += 9; end = p + ln
    if tag == 1:
        sid = struct.unpack('>Q', m[p:p+8])[0]; strings[sid] = m[p+8:end].decode('utf8', 'replace')
    elif tag == 2:
        _, cid, _, nid = struct.unpack('>IQIQ', m[p:p+24]); cname[cid] = strings[nid].replace('/', '.')
    elif tag in (0x0c, 0x1c):
        q = p
        while q < end:
            st = m[q]; q += 1
            if st == 0xff: q += 8
            elif st in (1,): q += 16
            elif st in (2, 3): q += 16
            elif st in (4, 6): q += 12
            elif st == 8: q += 16
            elif st in (5, 7): q += 8
            elif st == 0x20:
                cid, _, sup = struct.unpack('>QIQ', m[q:q+20]); q += 20 + 8*5
                isz = struct.unpack('>I', m[q:q+4])[0]; q += 4
                ncp = struct.unpack('>H', m[q:q+2])[0]; q += 2
                for _ in range(ncp):
                    t = m[q+2]; q += 3 + TS[t]
                nst = struct.unpack('>H', m[q:q+2])[0]; q += 2
                for _ in range(nst):
                    t = m[q+8]; q += 9 + TS[t]
                nf = struct.unpack('>H', m[q:q+2])[0]; q += 2
                fl = []
                for _ in range(nf):
                    nid = struct.unpack('>Q', m[q:q+8])[0]; t = m[q+8]; q += 9; fl.append((strings[nid], t))
                classes[cid] = (sup, isz, fl)
            elif st == 0x21:
                oid, _, cid, n = struct.unpack('>QIQI', m[q:q+24]); inst[oid] = (cid, q+24); q += 24 + n
            elif st == 0x22:
                oid, _, n, ec = struct.unpack('>QIIQ', m[q:q+24]); objarr[oid] = (ec, n); q += 24 + 8*n
                nm = cname.get(ec, '?')
                hist[nm] += 1; hbytes[nm] += 16 + 4*n
            elif st == 0x23:
                oid, _, n, t = struct.unpack('>QIIB', m[q:q+17]); hist[PN[t]] += 1; hbytes[PN[t]] += 16 + n*TS[t]; prim[oid] = (PN[t], n); poff[oid] = q + 17; q += 17 + n*TS[t]
            else:
                raise SystemExit(f'bad subtag {st:#x} at {q}')
    p = end
def layout(cid):
    out = []
    while cid:
        sup, isz, fl = classes[cid]; out.append(fl); cid = sup
    return [x for fl in out for x in fl]
def shallow(cid):  # compressed oops, 12-byte header, 8-aligned
    s = 12 + sum(4 if t == 2 else TS[t] for _, t in layout(cid))
    return (s + 7) & ~7
sz = {}
for oid, (cid, off) in inst.items():
    nm = cname.get(cid, '?'); hist[nm] += 1
    if cid not in sz: sz[cid] = shallow(cid)
    hbytes[nm] += sz[cid]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 50
tot = sum(hbytes.values())
print(f'total {tot/1e6:.1f} MB (shallow, compressed-oops estimate), {sum(hist.values())} objects')
for nm, b in hbytes.most_common(N):
    print(f'{hist[nm]:9d} {b:10d}  {nm}')
def field(oid, name):
    cid, off = inst[oid]
    for fn, t in layout(cid):
        if fn == name:
            return struct.unpack('>Q', m[off:off+8])[0] if t == 2 else None
        off += TS[t]
    raise KeyError(name)
def kind(oid):
    if oid == 0: return 'null'
    if oid in inst: return cname.get(inst[oid][0], '?')
    if oid in objarr: return cname.get(objarr[oid][0], '?')
    return 'prim[]'
args = sys.argv[3:]
cid_by = {v: k for k, v in cname.items()}
for i in range(0, len(args), 2):
    cn, path = args[i], args[i+1].split('.')
    c = collections.Counter()
    for oid, (cid, off) in inst.items():
        if cname.get(cid) != cn: continue
        o = oid
        try:
            for fn in path:
                o = field(o, fn) if o in inst else 0
            c[kind(o)] += 1
        except KeyError as e:
            c['nofield ' + str(e)] += 1
    print(f'\n{cn}.{".".join(path)}:')
    for k, v in c.most_common(15): print(f'  {v:8d} {k}')
import os
want = os.environ.get('REFS')  # class name: who points at instances of it (class.field)
if want:
    if want.endswith('[]') and want in PN.values():
        targets = {oid for oid, (t, n) in prim.items() if t == want and n >= int(os.environ.get('MIN', '0'))}
        sizes = collections.Counter(n for oid, (t, n) in prim.items() if t == want)
        print('sizes', sizes.most_common(12))
    elif want.startswith('['):
        targets = {oid for oid, (ec, n) in objarr.items() if cname.get(ec) == want and n >= int(os.environ.get('MIN', '0'))}
        sizes = collections.Counter(n for oid, (ec, n) in objarr.items() if cname.get(ec) == want)
        print('sizes', sizes.most_common(12))
    else:
        targets = {oid for oid, (cid, off) in inst.items() if cname.get(cid) == want and
               (not os.environ.get('TASK') or kind(field(oid, 'task')) == os.environ['TASK'])}
    refs = collections.Counter(); dist = collections.defaultdict(set); lay = {}
    for oid, (cid, off) in inst.items():
        if cid not in lay: lay[cid] = layout(cid)
        o = off
        for fn, t in lay[cid]:
            if t == 2:
                v = struct.unpack('>Q', m[o:o+8])[0]
                if v in targets: refs[cname.get(cid) + '.' + fn] += 1; dist[cname.get(cid) + '.' + fn].add(v)
            o += TS[t]
    print(f'\nreferrers of {want} ({len(targets)}):')
    for k, v in sorted(refs.items(), key=lambda kv: -len(dist[kv[0]]))[:25]: print(f'  {v:8d} {len(dist[k]):8d} distinct  {k}')
if os.environ.get('SHOW'):
    import random
    ln = int(os.environ['SHOW'])
    got = [oid for oid, (t, n) in prim.items() if t == 'byte[]' and n == ln]
    for oid in random.sample(got, min(8, len(got))):
        print(repr(m[poff[oid]:poff[oid]+ln]))
