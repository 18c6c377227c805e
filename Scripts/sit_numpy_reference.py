#!/usr/bin/env python3
"""Independent numpy implementation of the official SiT / FlowTurbo forward, for cross-checking `flowturbo forward`.

Writes, into OUT_DIR: model.safetensors (official tensor names, tensors only, no metadata — like a file converted from
the PyTorch state dict), x.npy, t.npy, y.npy, [v.npy], and expected.npy (float64 forward → float32).

Follows the PyTorch modules' semantics: Conv2d patch embedding, fixed pos_embed read from the file, GLIDE timestep
embedding (cos | sin), label table with a null row, adaLN-Zero blocks (timm Attention with qkv bias, GELU tanh MLP),
final adaLN layer, DiT unpatchify ('nhwpqc->nchpwq'), learn_sigma keeps the first C channels, refiner input is
concat(x, v) on channels and the refined velocity is r + v.

usage: sit_numpy_reference.py OUT_DIR --hidden 24 --depth 2 --heads 3 --patch 2 --size 8 --channels 2
       --classes 5 [--learn-sigma] [--refiner] [--batch 3] [--seed 0]
"""
import argparse, json, os, struct
import numpy as np


def save_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype='<f4')
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def sincos_1d(dim, pos):
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.outer(pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def pos_embed_2d(dim, grid):
    gw, gh = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64))
    return np.concatenate([sincos_1d(dim // 2, gw), sincos_1d(dim // 2, gh)], axis=1)


def layer_norm(x):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-6)


def silu(x):
    return x / (1 + np.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def forward(W, a, x, t, y, v):
    D, P, H = a.hidden, a.patch, a.heads
    inp = np.concatenate([x, v], axis=1) if v is not None else x
    N, C, S, _ = inp.shape
    G = S // P
    # Conv2d with kernel = stride = P, as a sum over (c, a, b) of each patch
    patches = inp.reshape(N, C, G, P, G, P).transpose(0, 2, 4, 1, 3, 5).reshape(N, G * G, C * P * P)
    h = patches @ W['x_embedder.proj.weight'].reshape(D, -1).T + W['x_embedder.proj.bias'] + W['pos_embed']
    half = 128
    freqs = np.exp(-np.log(10000.0) * np.arange(half) / half)
    args = t[:, None] * freqs[None]
    tf = np.concatenate([np.cos(args), np.sin(args)], axis=1)
    lin = lambda z, n: z @ W[n + '.weight'].T + W[n + '.bias']
    temb = lin(silu(lin(tf, 't_embedder.mlp.0')), 't_embedder.mlp.2')
    c = temb + W['y_embedder.embedding_table.weight'][y]
    hd = D // H
    for i in range(a.depth):
        p = f'blocks.{i}.'
        mod = lin(silu(c), p + 'adaLN_modulation.1')
        sh1, sc1, g1, sh2, sc2, g2 = np.split(mod, 6, axis=1)
        z = layer_norm(h) * (1 + sc1[:, None]) + sh1[:, None]
        qkv = lin(z, p + 'attn.qkv').reshape(N, G * G, 3, H, hd).transpose(2, 0, 3, 1, 4)
        q, k, vv = qkv[0], qkv[1], qkv[2]
        att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = (att @ vv).transpose(0, 2, 1, 3).reshape(N, G * G, D)
        h = h + g1[:, None] * lin(o, p + 'attn.proj')
        z = layer_norm(h) * (1 + sc2[:, None]) + sh2[:, None]
        h = h + g2[:, None] * lin(gelu_tanh(lin(z, p + 'mlp.fc1')), p + 'mlp.fc2')
    shift, scale = np.split(lin(silu(c), 'final_layer.adaLN_modulation.1'), 2, axis=1)
    out = lin(layer_norm(h) * (1 + scale[:, None]) + shift[:, None], 'final_layer.linear')
    cout = out.shape[-1] // (P * P)
    img = np.einsum('nhwpqc->nchpwq', out.reshape(N, G, G, P, P, cout)).reshape(N, cout, S, S)
    img = img[:, :a.channels]
    if v is not None:
        img = img + v
    return img


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    for k, d in [('hidden', 24), ('depth', 2), ('heads', 3), ('patch', 2), ('size', 8), ('channels', 2),
                 ('classes', 5), ('batch', 3), ('seed', 0)]:
        ap.add_argument('--' + k, type=int, default=d)
    ap.add_argument('--learn-sigma', action='store_true')
    ap.add_argument('--refiner', action='store_true')
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    D, P, C, S = a.hidden, a.patch, a.channels, a.size
    cin = 2 * C if a.refiner else C
    cout = 2 * C if a.learn_sigma else C
    G = S // P
    r = lambda *s: rng.normal(0, 0.2, size=s)
    W = {'x_embedder.proj.weight': r(D, cin, P, P), 'x_embedder.proj.bias': r(D),
         'pos_embed': pos_embed_2d(D, G)[None],
         't_embedder.mlp.0.weight': r(D, 256), 't_embedder.mlp.0.bias': r(D),
         't_embedder.mlp.2.weight': r(D, D), 't_embedder.mlp.2.bias': r(D),
         'y_embedder.embedding_table.weight': r(a.classes + 1, D),
         'final_layer.adaLN_modulation.1.weight': r(2 * D, D), 'final_layer.adaLN_modulation.1.bias': r(2 * D),
         'final_layer.linear.weight': r(P * P * cout, D), 'final_layer.linear.bias': r(P * P * cout)}
    for i in range(a.depth):
        p = f'blocks.{i}.'
        W.update({p + 'attn.qkv.weight': r(3 * D, D), p + 'attn.qkv.bias': r(3 * D),
                  p + 'attn.proj.weight': r(D, D), p + 'attn.proj.bias': r(D),
                  p + 'mlp.fc1.weight': r(4 * D, D), p + 'mlp.fc1.bias': r(4 * D),
                  p + 'mlp.fc2.weight': r(D, 4 * D), p + 'mlp.fc2.bias': r(D),
                  p + 'adaLN_modulation.1.weight': r(6 * D, D), p + 'adaLN_modulation.1.bias': r(6 * D)})
    W = {k: v.astype(np.float32) for k, v in W.items()}   # the file holds float32; compute from exactly those values
    os.makedirs(a.out, exist_ok=True)
    save_safetensors(os.path.join(a.out, 'model.safetensors'), W)
    x = rng.normal(size=(a.batch, C, S, S)).astype(np.float32)
    t = rng.uniform(0, 1, size=a.batch).astype(np.float32)
    y = (np.arange(a.batch) % (a.classes + 1)).astype(np.int64)
    v = rng.normal(size=x.shape).astype(np.float32) if a.refiner else None
    np.save(os.path.join(a.out, 'x.npy'), x)
    np.save(os.path.join(a.out, 't.npy'), t)
    np.save(os.path.join(a.out, 'y.npy'), y)
    if v is not None:
        np.save(os.path.join(a.out, 'v.npy'), v)
    W64 = {k: w.astype(np.float64) for k, w in W.items()}
    exp = forward(W64, a, x.astype(np.float64), t.astype(np.float64), y, None if v is None else v.astype(np.float64))
    np.save(os.path.join(a.out, 'expected.npy'), exp.astype(np.float32))


if __name__ == '__main__':
    main()
