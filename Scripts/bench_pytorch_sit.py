#!/usr/bin/env python3
"""Guided Heun sampling of a SiT checkpoint in PyTorch CPU eager vs `flowturbo sample`, alternating in one run.

The PyTorch side is a plain eager re-implementation of the official SiT modules (Conv2d patch embedding, fixed
pos_embed, GLIDE timestep embedding, label table with a null row, adaLN-Zero blocks with qkv-bias attention through
F.scaled_dot_product_attention and a GELU-tanh MLP, adaLN final layer, DiT unpatchify) that loads the same
safetensors file, and the sampler is the FlowTurbo module's Heun loop with classifier-free guidance on a
[cond; null] batch. Both sides run one thread. Prints the median ms/sample of each and the ratio.

Needs torch (not a project dependency: `pip install torch`).
usage: Scripts/bench_pytorch_sit.py [--model Models/sit-mnist.safetensors] [--flowturbo .build/release/flowturbo]
       [--steps 8] [--cfg 2] [--batch 64] [--repeats 3]
"""
import argparse, json, math, os, re, resource, statistics, struct, subprocess, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop('__metadata__', {})
    out = {}
    for name, e in header.items():
        assert e['dtype'] == 'F32', name
        b, end = e['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(data[b:end], dtype='<f4').reshape(e['shape']).copy())
    return out, meta


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.ada = nn.Linear(d, 6 * d)
        self.norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)

    def forward(self, x, c):
        n, l, d = x.shape
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(F.silu(c)).chunk(6, dim=1)
        z = self.norm(x) * (1 + sc1[:, None]) + sh1[:, None]
        q, k, v = self.qkv(z).reshape(n, l, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, l, d)
        x = x + g1[:, None] * self.proj(o)
        z = self.norm(x) * (1 + sc2[:, None]) + sh2[:, None]
        return x + g2[:, None] * self.fc2(F.gelu(self.fc1(z), approximate='tanh'))


class SiT(nn.Module):
    def __init__(self, w, heads):
        super().__init__()
        d, cin, p, _ = w['x_embedder.proj.weight'].shape
        self.p, self.d = p, d
        self.depth = len({k.split('.')[1] for k in w if k.startswith('blocks.')})
        self.embed = nn.Conv2d(cin, d, p, stride=p)
        self.t0, self.t2 = nn.Linear(256, d), nn.Linear(d, d)
        self.table = nn.Embedding(*w['y_embedder.embedding_table.weight'].shape)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(self.depth))
        self.final_ada = nn.Linear(d, 2 * d)
        self.final = nn.Linear(d, w['final_layer.linear.weight'].shape[0])
        self.norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.register_buffer('pos', w['pos_embed'])
        names = {'embed.weight': 'x_embedder.proj.weight', 'embed.bias': 'x_embedder.proj.bias',
                 't0.weight': 't_embedder.mlp.0.weight', 't0.bias': 't_embedder.mlp.0.bias',
                 't2.weight': 't_embedder.mlp.2.weight', 't2.bias': 't_embedder.mlp.2.bias',
                 'table.weight': 'y_embedder.embedding_table.weight',
                 'final_ada.weight': 'final_layer.adaLN_modulation.1.weight',
                 'final_ada.bias': 'final_layer.adaLN_modulation.1.bias',
                 'final.weight': 'final_layer.linear.weight', 'final.bias': 'final_layer.linear.bias'}
        for i in range(self.depth):
            for a, b in [('qkv', 'attn.qkv'), ('proj', 'attn.proj'), ('fc1', 'mlp.fc1'), ('fc2', 'mlp.fc2'),
                         ('ada', 'adaLN_modulation.1')]:
                for s in ('weight', 'bias'):
                    names[f'blocks.{i}.{a}.{s}'] = f'blocks.{i}.{b}.{s}'
        self.load_state_dict({k: w[v] for k, v in names.items()} | {'pos': w['pos_embed']})

    def forward(self, x, t, y):
        n, c, s, _ = x.shape
        h = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        freqs = torch.exp(-math.log(10000.0) * torch.arange(128, dtype=torch.float32) / 128)
        args = t[:, None] * freqs[None]
        temb = self.t2(F.silu(self.t0(torch.cat([torch.cos(args), torch.sin(args)], dim=1))))
        cond = temb + self.table(y)
        for b in self.blocks:
            h = b(h, cond)
        shift, scale = self.final_ada(F.silu(cond)).chunk(2, dim=1)
        out = self.final(self.norm(h) * (1 + scale[:, None]) + shift[:, None])
        g, p = s // self.p, self.p
        cout = out.shape[-1] // (p * p)
        img = torch.einsum('nhwpqc->nchpwq', out.reshape(n, g, g, p, p, cout)).reshape(n, cout, s, s)
        return img[:, :c]


def guided(model, x, t, y, null, cfg):
    v = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
    vc, vu = v.chunk(2)
    return vu + cfg * (vc - vu)


@torch.inference_mode()
def heun(model, n, steps, cfg, classes):
    x = torch.randn(n, model.embed.in_channels, 28, 28)
    y = torch.arange(n) % classes
    null = torch.full_like(y, classes)
    dt = 1.0 / steps
    for i in range(steps):
        t = torch.full((n,), i * dt)
        d = guided(model, x, t, y, null, cfg)
        xp = x + dt * d
        d2 = guided(model, xp, t + dt, y, null, cfg)
        x = x + 0.5 * dt * (d + d2)
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='Models/sit-mnist.safetensors')
    ap.add_argument('--flowturbo', default='.build/release/flowturbo')
    ap.add_argument('--steps', type=int, default=8)
    ap.add_argument('--cfg', type=float, default=2.0)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    w, meta = load_safetensors(a.model)
    cfg_meta = json.loads(meta.get('flowturbo.sit_config', '{}'))
    heads = cfg_meta.get('numHeads', 4)
    model = SiT(w, heads).eval()
    classes = w['y_embedder.embedding_table.weight'].shape[0] - 1
    heun(model, 8, 1, a.cfg, classes)   # warm-up
    env = dict(os.environ, OPENBLAS_NUM_THREADS='1')
    torch_ms, ft_ms, torch_cpu, ft_cpu = [], [], [], []
    for r in range(a.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        heun(model, a.batch, a.steps, a.cfg, classes)
        torch_ms.append(1e3 * (time.perf_counter() - t0) / a.batch)
        torch_cpu.append(1e3 * (time.process_time() - c0) / a.batch)
        u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([a.flowturbo, 'sample', '--model', a.model, '--refiner', 'none', '--plan', f'H{a.steps}',
                              '--cfg', str(a.cfg), '--n', str(a.batch), '--batch', str(a.batch),
                              '--out', '/tmp/bench_pytorch_sit.npy'], env=env, capture_output=True, text=True,
                             check=True).stdout
        u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        ft_ms.append(float(re.search(r'\(([0-9.]+) ms/sample\)', out).group(1)))
        # CPU time of the whole child (start-up and model load included, so this favours PyTorch slightly).
        ft_cpu.append(1e3 * (u1.ru_utime + u1.ru_stime - u0.ru_utime - u0.ru_stime) / a.batch)
        print(f'repeat {r}: wall pytorch {torch_ms[-1]:.1f} vs flowturbo {ft_ms[-1]:.1f} ms/sample; '
              f'CPU {torch_cpu[-1]:.1f} vs {ft_cpu[-1]:.1f} ms/sample')
    tm, fm = statistics.median(torch_ms), statistics.median(ft_ms)
    tc, fc = statistics.median(torch_cpu), statistics.median(ft_cpu)
    ratios = statistics.median(t / f for t, f in zip(torch_ms, ft_ms))
    print(f'torch {torch.__version__} (1 thread, {torch.backends.cpu.get_cpu_capability()}) vs flowturbo: '
          f'guided H{a.steps} cfg {a.cfg} batch {a.batch}: wall {tm:.1f} vs {fm:.1f} ms/sample (median of paired '
          f'ratios {ratios:.2f}x), CPU {tc:.1f} vs {fc:.1f} ms/sample ({tc / fc:.2f}x)')


if __name__ == '__main__':
    main()
