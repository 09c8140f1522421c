#!/usr/bin/env python3
"""The demo's model trained in PyTorch on the CPU, for `./r1 bench` to be
compared with: the same GPT-2 (d=96, 3 layers, 4 heads, vocabulary 453,
context 128, tied embeddings), the same batch (64 x 64 tokens), forward +
backward + AdamW. Prints training tokens/s for each thread count, the median
of several timed steps after warm-up.

Then one GRPO step as a PyTorch user writes it, the counterpart of bench's
"GRPO step" line: 16 prompts x 8 samples decoded with a KV cache to the
context length (an untrained model rarely stops early, and bench's model
never does), the frozen reference's and the policy's log-probs of the
completions, the clipped ratio and KL token loss with 1/|o_i| (the paper's
eq. 1, beta 0.04, epsilon 0.2), backward, gradient clipping and AdamW.
Prints seconds per step for each thread count.

With --r1 (./r1 by default, where it exists) it first runs `./r1 bench
--json` at each thread count, takes the model's shape from it (PyTorch then
builds the same model, context included), and ends with one table: r1.c's
figures beside PyTorch's, and their ratios at one thread and at each one's
best thread count, all from the same sitting.

Optional, for measurement only: needs PyTorch (Debian: apt-get install
python3-torch; run with /usr/bin/python3). r1.c itself needs nothing of this.

    /usr/bin/python3 tests/bench_torch.py [--threads 1 2] [--steps 10] [--grpo-steps 5] [--r1 ./r1 | --r1 none]
"""
import argparse
import ctypes
import json
import math
import os
import statistics
import subprocess
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, T_CTX, D, L, NH = 453, 128, 96, 3, 4   # the demo model's; --r1 reads them from ./r1 bench


def set_threads(n):
    """n threads for torch and for the BLAS under it. Debian's torch calls
    OpenBLAS (libblas.so.3), whose own pool torch.set_num_threads leaves at
    one thread per core: "1 thread" would run its matmuls on two."""
    torch.set_num_threads(n)
    try:
        ctypes.CDLL("libblas.so.3").openblas_set_num_threads(n)
    except (OSError, AttributeError):        # another BLAS: torch's setting is all there is
        pass


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D, eps=1e-5)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.ln2 = nn.LayerNorm(D, eps=1e-5)
        self.fc = nn.Linear(D, 4 * D)
        self.fc_proj = nn.Linear(4 * D, D)

    def forward(self, x, cache=None):
        # cache: this layer's (keys, values) of the earlier positions, or None
        B, T, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        q, k, v = (t.view(B, T, NH, D // NH).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D // NH)
        S = k.shape[2]                         # keys: the cached ones, then these T
        mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.proj(y)
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh")), (k, v)


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(V, D)
        self.pos_emb = nn.Embedding(T_CTX, D)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(D, eps=1e-5)
        # normal(0, 0.02) as in GPT-2 and r1.c: with PyTorch's N(0, 1) embeddings,
        # tied to the LM head, the untrained policy is nearly deterministic and
        # a group's samples equal (advantages cancel, gradients vanish)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def logits(self, idx, caches=None, start=0):
        # idx (B,T) at positions start..start+T-1; caches: one per layer, or None
        T = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(start, start + T))
        new = []
        for i, b in enumerate(self.blocks):
            x, kv = b(x, caches[i] if caches else None)
            new.append(kv)
        return self.ln_f(x) @ self.tok_emb.weight.T, new

    def forward(self, idx, targets):
        logits, _ = self.logits(idx)
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))


def rollout(model, prompts, temperature=1.0):
    """Sample a completion for every row of prompts (B, P) to the context length."""
    with torch.no_grad():
        logits, caches = model.logits(prompts)
        seq = [prompts]
        for pos in range(prompts.shape[1], T_CTX):   # the token at pos
            probs = F.softmax(logits[:, -1] / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1)
            seq.append(nxt)
            if pos == T_CTX - 1:
                break
            logits, caches = model.logits(nxt, caches, start=pos)
    return torch.cat(seq, dim=1)               # (B, T_CTX): inputs are [:, :-1], targets [:, 1:]


def token_logp(model, seq, temperature=1.0):
    """log pi(o_t | q, o_<t) of every target token of seq (B, T)."""
    logits, _ = model.logits(seq[:, :-1])
    return torch.log_softmax(logits / temperature, dim=-1).gather(2, seq[:, 1:, None]).squeeze(2)


def grpo_step(policy, ref, opt, prompts, G, beta=0.04, eps=0.2):
    seq = rollout(policy, prompts.repeat_interleave(G, dim=0))
    P = prompts.shape[1]
    mask = torch.zeros(seq.shape[0], seq.shape[1] - 1)
    mask[:, P - 1:] = 1.0                      # the completion's tokens are targets P-1.. of the inputs
    # rewards: any with variety (the verifier's are not the point here), then
    # group-relative advantages (eq. 3)
    reward = torch.rand(prompts.shape[0], G)
    adv = ((reward - reward.mean(1, keepdim=True)) / (reward.std(1, keepdim=True) + 1e-4)).view(-1, 1)
    with torch.no_grad():
        logp_ref = token_logp(ref, seq)
    logp = token_logp(policy, seq)
    logp_old = logp.detach()                   # mu = 1: the policy that sampled
    ratio = torch.exp(logp - logp_old)
    surrogate = torch.min(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv)
    kl = torch.exp(logp_ref - logp) - (logp_ref - logp) - 1
    per_token = -(surrogate - beta * kl)
    loss = ((per_token * mask).sum(1) / mask.sum(1)).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
    opt.step()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--grpo-steps", type=int, default=5)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--prompt-len", type=int, default=7)   # the add_test prompts' mean
    ap.add_argument("--r1", default="./r1", help="r1 binary to run `bench --json` with first ('none': skip)")
    args = ap.parse_args()
    r1 = {}
    if args.r1 != "none" and os.path.exists(args.r1):
        global V, T_CTX, D, L, NH
        for n in args.threads:
            out = subprocess.run([args.r1, "bench", "--json", "--threads", str(n), "--steps", str(min(args.steps, 15))],
                                 check=True, capture_output=True, text=True).stdout
            r1[n] = json.loads(out)
            print(f"r1.c, {n} thread{'s' if n > 1 else ''}: {r1[n]['train_tokens_per_s']:.0f} training tokens/s, "
                  f"{r1[n]['grpo_step_s']:.3f} s a GRPO step")
        c = r1[args.threads[0]]["config"]
        V, T_CTX, D, L, NH = c["vocab_size"], c["n_ctx"], c["d_model"], c["n_layer"], c["n_head"]
        args.batch, args.seq = c["batch"], c["seq"]
    torch.manual_seed(0)
    torch_train, torch_grpo = {}, {}
    for n in args.threads if args.steps > 0 else []:
        set_threads(n)
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
        tps = torch_train[n] = args.batch * args.seq / statistics.median(times)
        print(f"pytorch {torch.__version__}, {n} thread{'s' if n > 1 else ''}: "
              f"{tps:.0f} training tokens/s (batch {args.batch}x{args.seq}, median of {args.steps})")
    for n in args.threads if args.grpo_steps > 0 else []:
        set_threads(n)
        policy, ref = GPT(), GPT()
        ref.load_state_dict(policy.state_dict())
        for p in ref.parameters():
            p.requires_grad_(False)
        opt = torch.optim.AdamW(policy.parameters(), lr=3e-4, betas=(0.9, 0.99), weight_decay=0.0)
        times = []
        for step in range(args.grpo_steps + 1):
            prompts = torch.randint(0, V, (args.prompts, args.prompt_len))
            t0 = time.perf_counter()
            grpo_step(policy, ref, opt, prompts, args.group)
            if step >= 1:                      # the first step warms up
                times.append(time.perf_counter() - t0)
        torch_grpo[n] = statistics.median(times)
        print(f"pytorch {torch.__version__}, {n} thread{'s' if n > 1 else ''}: "
              f"{torch_grpo[n]:.3f} s a GRPO step ({args.prompts} prompts x {args.group} samples "
              f"to {T_CTX} tokens, median of {args.grpo_steps})")
    if r1:
        ratios(args.threads, r1, torch_train, torch_grpo)


def ratios(threads, r1, torch_train, torch_grpo):
    """r1.c beside PyTorch, and r1.c's speed as a multiple of PyTorch's."""
    print(f"\n{'':34s}" + "".join(f"{f'{n} thread' + ('s' if n > 1 else ''):>12s}" for n in threads) + f"{'best':>12s}")
    rows = [("training tokens/s, r1.c", {n: r1[n]["train_tokens_per_s"] for n in threads}, max, "{:.0f}"),
            ("training tokens/s, PyTorch", torch_train, max, "{:.0f}"),
            ("GRPO step s, r1.c", {n: r1[n]["grpo_step_s"] for n in threads}, min, "{:.3f}"),
            ("GRPO step s, PyTorch", torch_grpo, min, "{:.3f}")]
    best = {}
    for name, fig, pick, fmt in rows:
        if not fig:
            continue
        best[name] = pick(fig.values())
        print(f"{name:34s}" + "".join(f"{fmt.format(fig[n]):>12s}" for n in threads) + f"{fmt.format(best[name]):>12s}")
    if torch_train:
        print(f"{'training, r1.c / PyTorch':34s}" +
              "".join(f"{r1[n]['train_tokens_per_s'] / torch_train[n]:>11.2f}x" for n in threads) +
              f"{best['training tokens/s, r1.c'] / best['training tokens/s, PyTorch']:>11.2f}x")
    if torch_grpo:
        print(f"{'GRPO step, PyTorch / r1.c':34s}" +
              "".join(f"{torch_grpo[n] / r1[n]['grpo_step_s']:>11.2f}x" for n in threads) +
              f"{best['GRPO step s, PyTorch'] / best['GRPO step s, r1.c']:>11.2f}x")


if __name__ == "__main__":
    main()
