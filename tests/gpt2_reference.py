#!/usr/bin/env python3
"""A textbook GPT-2, in pure Python, as an independent check of r1.c.

    python3 tests/gpt2_reference.py CHECKPOINT TOKEN_IDS...

CHECKPOINT is a .safetensors file or a run folder (meaning
FOLDER/model.safetensors), as for ./r1. Prints, exactly like
`./r1 score --model CHECKPOINT "text"`, one "id<TAB>logprob" line per token:
the first token gets "-", every later token t gets log p(token t | tokens < t).

Nothing here is shared with r1.c: the file is read by its own safetensors
reader (which checks the header length, the JSON, the dtypes, shapes and
byte ranges, and that the tensors tile the data exactly), and the forward
pass is written the way the GPT-2 papers and nanoGPT describe it, in double
precision (Python floats), one position at a time. Standard library only
(no numpy, no safetensors package). Model:

    x_t   = tok_emb[id_t] + pos_emb[t]
    per layer:
        x = x + attn.proj(CausalSelfAttention(attn.qkv(LN1(x))))
        x = x + mlp.proj(GELU_tanh(mlp.fc(LN2(x))))
    logits_t = tok_emb @ LN_f(x_t)                      (tied unembedding)

LayerNorm has eps 1e-5 and a weight and bias; every linear is PyTorch
nn.Linear, y = x @ W.T + b with W stored (out, in); the fused qkv output is
q, then k, then v, and head h owns features h*hd .. h*hd+hd-1 of each;
attention scores are scaled by 1/sqrt(hd).
"""

import json
import math
import os
import struct
import sys
from array import array
from operator import mul

EPS = 1e-5
MAX_HEADER = 100 * 1024 * 1024  # the safetensors crate's own limit
CONFIG_KEYS = ("vocab_size", "n_ctx", "d_model", "n_layer", "n_head")


class FormatError(Exception):
    pass


# ----------------------------------------------------------------------------
# safetensors reader


def _no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise FormatError("duplicate key %r in the JSON header" % k)
        d[k] = v
    return d


def read_safetensors(path):
    """Returns (metadata dict of str -> str, dict of name -> (shape, list of floats))."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise FormatError("%d bytes: too short for the 8-byte header length" % len(blob))
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen < 2 or hlen > MAX_HEADER or 8 + hlen > len(blob):
        raise FormatError("header length %d is out of bounds for a file of %d bytes" % (hlen, len(blob)))
    raw = blob[8:8 + hlen]
    if raw[:1] != b"{":
        raise FormatError("the header does not start with '{'")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError("the header is not UTF-8: %s" % e)
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as e:
        raise FormatError("the header is not valid JSON: %s" % e)
    if not isinstance(header, dict):
        raise FormatError("the header is not a JSON object")
    data = memoryview(blob)[8 + hlen:]

    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise FormatError("__metadata__ must map strings to strings")

    spans = []
    tensors = {}
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise FormatError("%s: entry must have exactly dtype, shape and data_offsets" % name)
        if info["dtype"] != "F32":
            raise FormatError("%s: dtype %r, expected F32" % (name, info["dtype"]))
        shape, offs = info["shape"], info["data_offsets"]
        if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
            raise FormatError("%s: bad shape %r" % (name, shape))
        if not (isinstance(offs, list) and len(offs) == 2 and all(type(o) is int for o in offs)):
            raise FormatError("%s: bad data_offsets %r" % (name, offs))
        begin, end = offs
        if not 0 <= begin <= end <= len(data):
            raise FormatError("%s: data_offsets [%d, %d] outside the %d data bytes" % (name, begin, end, len(data)))
        numel = 1
        for s in shape:
            numel *= s
        if end - begin != 4 * numel:
            raise FormatError("%s: %d bytes for shape %r (%d F32 values)" % (name, end - begin, shape, numel))
        vals = array("f")
        vals.frombytes(data[begin:end])
        if sys.byteorder == "big":
            vals.byteswap()  # safetensors data is little-endian
        vals = vals.tolist()
        if not all(math.isfinite(v) for v in vals):
            raise FormatError("%s: non-finite values" % name)
        tensors[name] = (shape, vals)
        spans.append((begin, end, name))

    # The tensors must tile the data region: no gaps, no overlaps, nothing after.
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            raise FormatError("%s: starts at byte %d of the data, expected %d (%s)"
                              % (name, begin, pos, "overlap" if begin < pos else "gap"))
        pos = end
    if pos != len(data):
        raise FormatError("the tensors cover %d of the %d data bytes" % (pos, len(data)))
    return meta, tensors


# ----------------------------------------------------------------------------
# the model


def load_model(path):
    meta, tensors = read_safetensors(path)
    cfg = {}
    for k in CONFIG_KEYS:
        v = meta.get(k)
        if v is None or not v.isdigit() or int(v) < 1:
            raise FormatError("__metadata__ %s = %r: expected a positive integer string" % (k, v))
        cfg[k] = int(v)
    V, T, D, L, H = (cfg[k] for k in CONFIG_KEYS)
    if D % H:
        raise FormatError("d_model %d is not a multiple of n_head %d" % (D, H))

    expect = {"tok_emb": [V, D], "pos_emb": [T, D], "ln_f.weight": [D], "ln_f.bias": [D]}
    for l in range(L):
        b = "blocks.%d." % l
        expect.update({
            b + "ln1.weight": [D], b + "ln1.bias": [D],
            b + "attn.qkv.weight": [3 * D, D], b + "attn.qkv.bias": [3 * D],
            b + "attn.proj.weight": [D, D], b + "attn.proj.bias": [D],
            b + "ln2.weight": [D], b + "ln2.bias": [D],
            b + "mlp.fc.weight": [4 * D, D], b + "mlp.fc.bias": [4 * D],
            b + "mlp.proj.weight": [D, 4 * D], b + "mlp.proj.bias": [D],
        })
    missing = sorted(set(expect) - set(tensors))
    extra = sorted(set(tensors) - set(expect))
    if missing or extra:
        raise FormatError("tensor names: missing %s, unexpected %s" % (missing, extra))
    for name, shape in expect.items():
        if tensors[name][0] != shape:
            raise FormatError("%s: shape %r, expected %r" % (name, tensors[name][0], shape))

    def get(name):
        shape, vals = tensors[name]
        if len(shape) == 1:
            return vals
        rows, cols = shape
        return [vals[r * cols:(r + 1) * cols] for r in range(rows)]  # row-major (out, in)

    w = {name: get(name) for name in expect}
    return cfg, w


def layernorm(x, weight, bias):
    n = len(x)
    mean = sum(x) / n
    var = sum((v - mean) ** 2 for v in x) / n  # biased, as torch.nn.LayerNorm
    inv = 1.0 / math.sqrt(var + EPS)
    return [(v - mean) * inv * g + b for v, g, b in zip(x, weight, bias)]


def linear(x, weight, bias):
    """nn.Linear: y = x @ W.T + b, W is (out, in)."""
    return [sum(map(mul, row, x)) + b for row, b in zip(weight, bias)]


def gelu(x):
    """GELU, tanh approximation (GPT-2's)."""
    c = math.sqrt(2.0 / math.pi)
    return 0.5 * x * (1.0 + math.tanh(c * (x + 0.044715 * x * x * x)))


def forward(cfg, w, ids):
    """Returns the list of next-token log-probability vectors, one per position."""
    V, T, D, L, H = (cfg[k] for k in CONFIG_KEYS)
    hd = D // H
    scale = 1.0 / math.sqrt(hd)
    n = len(ids)
    xs = [[a + b for a, b in zip(w["tok_emb"][tok], w["pos_emb"][t])] for t, tok in enumerate(ids)]
    for l in range(L):
        p = "blocks.%d." % l
        # causal multi-head self-attention
        qs, ks, vs = [], [], []
        for x in xs:
            qkv = linear(layernorm(x, w[p + "ln1.weight"], w[p + "ln1.bias"]),
                         w[p + "attn.qkv.weight"], w[p + "attn.qkv.bias"])
            qs.append(qkv[:D]); ks.append(qkv[D:2 * D]); vs.append(qkv[2 * D:])
        for t in range(n):
            y = []
            for h in range(H):
                lo, hi = h * hd, (h + 1) * hd
                q = qs[t][lo:hi]
                scores = [sum(map(mul, q, ks[s][lo:hi])) * scale for s in range(t + 1)]  # s <= t only
                m = max(scores)
                e = [math.exp(sc - m) for sc in scores]
                z = sum(e)
                att = [v / z for v in e]
                y.extend(sum(att[s] * vs[s][i] for s in range(t + 1)) for i in range(lo, hi))
            out = linear(y, w[p + "attn.proj.weight"], w[p + "attn.proj.bias"])
            xs[t] = [a + b for a, b in zip(xs[t], out)]  # safe: later positions read qs/ks/vs only
        # MLP
        for t in range(n):
            h1 = linear(layernorm(xs[t], w[p + "ln2.weight"], w[p + "ln2.bias"]),
                        w[p + "mlp.fc.weight"], w[p + "mlp.fc.bias"])
            out = linear([gelu(v) for v in h1], w[p + "mlp.proj.weight"], w[p + "mlp.proj.bias"])
            xs[t] = [a + b for a, b in zip(xs[t], out)]
    logps = []
    for x in xs:
        f = layernorm(x, w["ln_f.weight"], w["ln_f.bias"])
        logits = [sum(map(mul, row, f)) for row in w["tok_emb"]]  # tied, no bias
        m = max(logits)
        lse = m + math.log(sum(math.exp(v - m) for v in logits))
        logps.append([v - lse for v in logits])
    return logps


def main(argv):
    if len(argv) < 3:
        sys.stderr.write("usage: python3 tests/gpt2_reference.py CHECKPOINT TOKEN_IDS...\n")
        return 2
    path = argv[1]
    if os.path.isdir(path):
        path = os.path.join(path, "model.safetensors")
    try:
        ids = [int(a) for a in argv[2:]]
    except ValueError:
        sys.stderr.write("token ids must be integers\n")
        return 2
    try:
        cfg, w = load_model(path)
    except (OSError, FormatError) as e:
        sys.stderr.write("%s: %s\n" % (path, e))
        return 1
    if any(not 0 <= i < cfg["vocab_size"] for i in ids):
        sys.stderr.write("token ids must be in [0, %d)\n" % cfg["vocab_size"])
        return 2
    if len(ids) > cfg["n_ctx"]:
        sys.stderr.write("%d tokens exceed the context of %d\n" % (len(ids), cfg["n_ctx"]))
        return 2
    logps = forward(cfg, w, ids)
    print("%d\t-" % ids[0])
    for t in range(1, len(ids)):
        print("%d\t%.6f" % (ids[t], logps[t - 1][ids[t]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
