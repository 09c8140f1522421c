#!/usr/bin/env python3
"""The demo's model trained in PyTorch on the CPU, for `./r1 bench` to be
compared with: the same GPT-2 (d=96, 3 layers, 4 heads, vocabulary 453,
context 80, tied embeddings), the same batch (64 x 64 tokens), forward +
backward + AdamW. Prints training tokens/s for each thread count, the median
of several timed steps after warm-up.

Optional, for measurement only: needs PyTorch (Debian: apt-get install
python3-torch; run with /usr/bin/python3). r1.c itself needs nothing of this.

    /usr/bin/python3 tests/bench_torch.py [--threads 1 2] [--steps 10]
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, T_CTX, D, L, NH = 453, 80, 96, 3, 4


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D, eps=1e-5)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.ln2 = nn.LayerNorm(D, eps=1e-5)
        self.fc = nn.Linear(D, 4 * D)
        self.fc_proj = nn.Linear(4 * D, D)

    def forward(self, x):
        B, T, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        q, k, v = (t.view(B, T, NH, D // NH).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D // NH)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.proj(y)
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(V, D)
        self.pos_emb = nn.Embedding(T_CTX, D)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(D, eps=1e-5)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T))
        for b in self.blocks:
            x = b(x)
        logits = self.ln_f(x) @ self.tok_emb.weight.T
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=64)
    args = ap.parse_args()
    torch.manual_seed(0)
    for n in args.threads:
        torch.set_num_threads(n)
        model = GPT()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        idx = torch.randint(0, V, (args.batch, args.seq))
        tgt = torch.randint(0, V, (args.batch, args.seq))
        times = []
        for step in range(args.steps + 2):
            t0 = time.perf_counter()
            loss = model(idx, tgt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step >= 2:                      # the first steps warm up
                times.append(time.perf_counter() - t0)
        tps = args.batch * args.seq / statistics.median(times)
        print(f"pytorch {torch.__version__}, {n} thread{'s' if n > 1 else ''}: "
              f"{tps:.0f} training tokens/s (batch {args.batch}x{args.seq}, median of {args.steps})")


if __name__ == "__main__":
    main()
