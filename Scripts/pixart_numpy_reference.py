#!/usr/bin/env python3
"""Independent numpy implementation of the official PixArt-α forward (diffusion/model/nets/PixArt.py and
PixArt_blocks.py), for cross-checking `flowturbo forward --caption --caption-mask`.

Writes, into OUT_DIR: model.safetensors (official tensor names, tensors only, no metadata — like a file converted
from the PyTorch state dict), x.npy, t.npy, caption.npy (N, L, C_caption), mask.npy int64 (N, L), [v.npy] and
expected.npy (float64 forward → float32).

Semantics followed: PatchEmbed (Conv2d k = stride = patch) + pos_embed buffer read from the file; GLIDE timestep
embedding (cos | sin) of the raw t; t_block = SiLU + Linear(D, 6D) (adaLN-single); per block
scale_shift_table[None] + t0.reshape(B, 6, D) → shift/scale/gate, t2i_modulate x·(1 + scale) + shift; timm
Attention with qkv bias; MultiHeadCrossAttention (q_linear, kv_linear → [k | v], proj; every image token attends
only to its own caption's tokens with mask != 0, here as a −inf additive mask) added without gate or norm; timm Mlp
with GELU(tanh); caption y_proj = Mlp(fc1, GELU tanh, fc2); T2IFinalLayer: (table[None] + t_emb[:, None]) with the
timestep embedding (not t_block); unpatchify 'nhwpqc->nchpwq'; pred_sigma keeps the first C channels; the refiner
reads concat(x, v) and returns r + v.

usage: pixart_numpy_reference.py OUT_DIR --hidden 24 --depth 2 --heads 3 --patch 2 --size 8 --channels 2
       --caption-channels 10 --tokens 6 [--caption-len L] [--learn-sigma] [--refiner] [--batch 4] [--seed 0]
       [--null-row] [--no-pos-embed] [--lewei-scale S] [--f64]
"""
import argparse, json, os, struct
import numpy as np


def save_safetensors(path, tensors, f64=False):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype='<f8' if f64 else '<f4')
        b = a.tobytes()
        header[name] = {"dtype": "F64" if f64 else "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def pos_embed_pixart(dim, grid, lewei_scale=1.0, base_size=None):
    """get_2d_sincos_pos_embed of PixArt.py, with its lewei_scale / base_size."""
    base = grid if base_size is None else base_size
    gh = np.arange(grid, dtype=np.float32) / (grid / base) / lewei_scale
    gw = np.arange(grid, dtype=np.float32) / (grid / base) / lewei_scale
    mesh = np.stack(np.meshgrid(gw, gh), axis=0).reshape(2, 1, grid, grid)

    def one(d, pos):
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum('m,d->md', pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)
    return np.concatenate([one(dim // 2, mesh[0]), one(dim // 2, mesh[1])], axis=1)


def layer_norm(x):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-6)


def silu(x):
    return x / (1 + np.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def softmax(a):
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def forward(W, a, x, t, cap, mask, v):
    D, P, H = a.hidden, a.patch, a.heads
    hd = D // H
    inp = np.concatenate([x, v], axis=1) if v is not None else x
    N, C, S, _ = inp.shape
    G = S // P
    T = G * G
    patches = inp.reshape(N, C, G, P, G, P).transpose(0, 2, 4, 1, 3, 5).reshape(N, T, C * P * P)
    h = patches @ W['x_embedder.proj.weight'].reshape(D, -1).T + W['x_embedder.proj.bias'] + W['pos_embed']
    half = 128
    freqs = np.exp(-np.log(10000.0) * np.arange(half) / half)
    args = t[:, None] * freqs[None]
    tf = np.concatenate([np.cos(args), np.sin(args)], axis=1)
    lin = lambda z, n: z @ W[n + '.weight'].T + W[n + '.bias']
    temb = lin(silu(lin(tf, 't_embedder.mlp.0')), 't_embedder.mlp.2')
    t0 = lin(silu(temb), 't_block.1')
    y = lin(gelu_tanh(lin(cap, 'y_embedder.y_proj.fc1')), 'y_embedder.y_proj.fc2')      # (N, L, D)
    L = y.shape[1]
    bias = np.where(mask[:, None, None, :] != 0, 0.0, -np.inf)                             # (N, 1, 1, L)
    for i in range(a.depth):
        p = f'blocks.{i}.'
        mod = W[p + 'scale_shift_table'][None] + t0.reshape(N, 6, D)
        sh1, sc1, g1, sh2, sc2, g2 = [mod[:, k][:, None] for k in range(6)]
        z = layer_norm(h) * (1 + sc1) + sh1
        qkv = lin(z, p + 'attn.qkv').reshape(N, T, 3, H, hd).transpose(2, 0, 3, 1, 4)
        att = softmax(qkv[0] @ qkv[1].transpose(0, 1, 3, 2) / np.sqrt(hd))
        o = (att @ qkv[2]).transpose(0, 2, 1, 3).reshape(N, T, D)
        h = h + g1 * lin(o, p + 'attn.proj')
        q = lin(h, p + 'cross_attn.q_linear').reshape(N, T, H, hd).transpose(0, 2, 1, 3)
        kv = lin(y, p + 'cross_attn.kv_linear').reshape(N, L, 2, H, hd)
        k, vv = kv[:, :, 0].transpose(0, 2, 1, 3), kv[:, :, 1].transpose(0, 2, 1, 3)
        att = softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + bias)
        o = (att @ vv).transpose(0, 2, 1, 3).reshape(N, T, D)
        h = h + lin(o, p + 'cross_attn.proj')
        z = layer_norm(h) * (1 + sc2) + sh2
        h = h + g2 * lin(gelu_tanh(lin(z, p + 'mlp.fc1')), p + 'mlp.fc2')
    fm = W['final_layer.scale_shift_table'][None] + temb[:, None]
    shift, scale = fm[:, 0][:, None], fm[:, 1][:, None]
    out = lin(layer_norm(h) * (1 + scale) + shift, 'final_layer.linear')
    cout = out.shape[-1] // (P * P)
    img = np.einsum('nhwpqc->nchpwq', out.reshape(N, G, G, P, P, cout)).reshape(N, cout, S, S)
    img = img[:, :a.channels]
    if v is not None:
        img = img + v
    return img


def weights(a, rng):
    D, P, C, CC = a.hidden, a.patch, a.channels, a.caption_channels
    cin = 2 * C if a.refiner else C
    cout = 2 * C if a.learn_sigma else C
    G = a.size // P
    r = lambda *s: rng.normal(0, 0.2, size=s)
    W = {'x_embedder.proj.weight': r(D, cin, P, P), 'x_embedder.proj.bias': r(D),
         'pos_embed': pos_embed_pixart(D, G, a.lewei_scale)[None],
         't_embedder.mlp.0.weight': r(D, 256), 't_embedder.mlp.0.bias': r(D),
         't_embedder.mlp.2.weight': r(D, D), 't_embedder.mlp.2.bias': r(D),
         't_block.1.weight': r(6 * D, D), 't_block.1.bias': r(6 * D),
         'y_embedder.y_proj.fc1.weight': r(D, CC), 'y_embedder.y_proj.fc1.bias': r(D),
         'y_embedder.y_proj.fc2.weight': r(D, D), 'y_embedder.y_proj.fc2.bias': r(D),
         'y_embedder.y_embedding': rng.normal(size=(a.tokens, CC)) / CC ** 0.5,
         'final_layer.scale_shift_table': rng.normal(size=(2, D)) / D ** 0.5,
         'final_layer.linear.weight': r(P * P * cout, D), 'final_layer.linear.bias': r(P * P * cout)}
    for i in range(a.depth):
        p = f'blocks.{i}.'
        W.update({p + 'scale_shift_table': rng.normal(size=(6, D)) / D ** 0.5,
                  p + 'attn.qkv.weight': r(3 * D, D), p + 'attn.qkv.bias': r(3 * D),
                  p + 'attn.proj.weight': r(D, D), p + 'attn.proj.bias': r(D),
                  p + 'cross_attn.q_linear.weight': r(D, D), p + 'cross_attn.q_linear.bias': r(D),
                  p + 'cross_attn.kv_linear.weight': r(2 * D, D), p + 'cross_attn.kv_linear.bias': r(2 * D),
                  p + 'cross_attn.proj.weight': r(D, D), p + 'cross_attn.proj.bias': r(D),
                  p + 'mlp.fc1.weight': r(4 * D, D), p + 'mlp.fc1.bias': r(4 * D),
                  p + 'mlp.fc2.weight': r(D, 4 * D), p + 'mlp.fc2.bias': r(D)})
    if a.f64:
        return W                                               # an F64 file (state dict saved after model.double())
    return {k: w.astype(np.float32) for k, w in W.items()}   # the file holds float32; compute from exactly those


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    for k, d in [('hidden', 24), ('depth', 2), ('heads', 3), ('patch', 2), ('size', 8), ('channels', 2),
                 ('caption-channels', 10), ('tokens', 6), ('caption-len', 0), ('batch', 4), ('seed', 0)]:
        ap.add_argument('--' + k, type=int, default=d)
    ap.add_argument('--lewei-scale', type=float, default=1.0)
    for f in ['learn-sigma', 'refiner', 'null-row', 'no-pos-embed', 'f64']:
        ap.add_argument('--' + f, action='store_true')
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    W = weights(a, rng)
    os.makedirs(a.out, exist_ok=True)
    stored = {k: w for k, w in W.items() if not (a.no_pos_embed and k == 'pos_embed')}
    save_safetensors(os.path.join(a.out, 'model.safetensors'), stored, a.f64)
    N, C, S, L = a.batch, a.channels, a.size, a.caption_len or a.tokens
    x = rng.normal(size=(N, C, S, S)).astype(np.float32)
    t = rng.uniform(0, 1, size=N).astype(np.float32)
    cap = rng.normal(size=(N, L, a.caption_channels)).astype(np.float32)
    lens = rng.integers(1, L + 1, size=N)
    lens[0] = L                                                       # one row without padding
    mask = (np.arange(L)[None] < lens[:, None]).astype(np.int64)
    if N > 2:
        mask[2] = rng.permutation(mask[2])                            # padding need not be a suffix
        mask[2, rng.integers(L)] = 1
    if a.null_row:                                                    # how PixArt's guidance feeds the null caption
        assert L == a.tokens, '--null-row needs --caption-len equal to --tokens'
        cap[-1] = W['y_embedder.y_embedding']
        mask[-1] = 1
    v = rng.normal(size=x.shape).astype(np.float32) if a.refiner else None
    for name, arr in [('x', x), ('t', t), ('caption', cap), ('mask', mask)] + ([('v', v)] if a.refiner else []):
        np.save(os.path.join(a.out, name + '.npy'), arr)
    W64 = {k: w.astype(np.float64) for k, w in W.items()}
    if a.no_pos_embed:
        W64['pos_embed'] = pos_embed_pixart(a.hidden, S // a.patch)[None]   # the defaults the loader must use
    exp = forward(W64, a, x.astype(np.float64), t.astype(np.float64), cap.astype(np.float64), mask,
                  None if v is None else v.astype(np.float64))
    np.save(os.path.join(a.out, 'expected.npy'), exp.astype(np.float32))


if __name__ == '__main__':
    main()
