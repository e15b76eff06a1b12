"""Chunked numpy reference for `npm run bench`: the same statistics over the same pair, read in
windows (float64 accumulation), to put lineage's throughput next to a plain numpy script."""
import json, struct, sys, time
import numpy as np

def tensors(folder):
    import os, glob
    out = {}
    for path in sorted(glob.glob(os.path.join(folder, '*.safetensors'))):
        with open(path, 'rb') as f:
            n = struct.unpack('<Q', f.read(8))[0]
            header = json.loads(f.read(n))
        for name, t in header.items():
            if name != '__metadata__':
                out[name] = (path, 8 + n + t['data_offsets'][0], t['data_offsets'][1] - t['data_offsets'][0])
    return out

def main(a, b):
    ta, tb = tensors(a), tensors(b)
    window = 1 << 22
    total = 0
    start = time.perf_counter()
    for name, (pa, oa, na) in ta.items():
        pb, ob, nb = tb[name]
        sums = np.zeros(6)
        with open(pa, 'rb') as fa, open(pb, 'rb') as fb:
            for at in range(0, na, window * 2):
                size = min(window * 2, na - at)
                fa.seek(oa + at); fb.seek(ob + at)
                x = (np.frombuffer(fa.read(size), dtype=np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
                y = (np.frombuffer(fb.read(size), dtype=np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
                sums += [x.sum(), y.sum(), x @ x, y @ y, x @ y, ((x - y) ** 2).sum()]
        total += na + nb
    seconds = time.perf_counter() - start
    print(json.dumps({'bytes': total, 'seconds': seconds}))

if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
