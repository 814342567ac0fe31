#!/usr/bin/python3
"""PyTorch peer of `sweep bench`: the same Llama-style model, formats and training step (forward,
backward, AdamW) in PyTorch fp32 eager mode, printing the same keys. Run with Debian's interpreter:

    /usr/bin/python3 bench/torch_peer.py --format all --threads 1 --batch 8 --seq 256 --json

The model is written the way Hugging Face's eager LlamaForCausalLM computes it (nn.Linear
projections, rotate_half RoPE, repeat_kv, masked softmax attention, SwiGLU), so the comparison is with
what a researcher would otherwise run. norm trains the RMSNorm gains, lora adds rank-r A/B pairs on
q,k,v,o,gate,up,down (alpha 2r), full trains every weight; frozen weights have requires_grad False,
so autograd skips their weight gradients just as the engine does. Config 1b applies Llama 3's RoPE
scaling, as the engine's config_1b does (its cos/sin tables equal the engine's rope_tables_scaled).
"""
import argparse
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

CONFIGS = {
    "default": dict(dim=256, n_layers=4, n_heads=4, n_kv_heads=4, ffn_dim=768, vocab=8192, context=256,
                    rope_theta=10000.0, norm_eps=1e-5, tied=True),
    # Llama 3.2 1B, rope_scaling included, as the engine's config_1b
    "1b": dict(dim=2048, n_layers=16, n_heads=32, n_kv_heads=8, ffn_dim=8192, vocab=128256, context=256,
               rope_theta=500000.0, norm_eps=1e-5, tied=True,
               rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                 original_max_position_embeddings=8192)),
    "tiny": dict(dim=16, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=24, vocab=37, context=12,
                 rope_theta=10000.0, norm_eps=1e-5, tied=False),
}
FORMATS = ["none", "norm", "lora", "full"]


class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Linear(torch.nn.Linear):
    """nn.Linear with an optional LoRA pair: y = W x + (alpha/r) B(A x)."""

    def __init__(self, i, o):
        super().__init__(i, o, bias=False)
        self.lora_A = self.lora_B = None

    def add_lora(self, r, alpha):
        self.lora_A = torch.nn.Parameter(torch.empty(r, self.in_features))
        torch.nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = torch.nn.Parameter(torch.zeros(self.out_features, r))
        self.scale = alpha / r

    def forward(self, x):
        y = F.linear(x, self.weight)
        if self.lora_A is not None:
            y = y + self.scale * F.linear(F.linear(x, self.lora_A), self.lora_B)
        return y


def inv_freq_of(hd, theta, scaling=None):
    """RoPE inverse frequencies; with a llama3 rope_scaling, Hugging Face's _compute_llama3_parameters
    (the formula tests/import/hf_import_test.py checks the engine against)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    if not scaling:
        return inv_freq
    assert scaling["rope_type"] == "llama3", scaling
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_ctx = scaling["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old_ctx / low, old_ctx / high
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_ctx / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return torch.where(medium, smoothed, scaled)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        d, H, KV = c["dim"], c["n_heads"], c["n_kv_heads"]
        hd = d // H
        self.H, self.KV, self.hd = H, KV, hd
        self.input_layernorm = RMSNorm(d, c["norm_eps"])
        self.q_proj, self.k_proj = Linear(d, H * hd), Linear(d, KV * hd)
        self.v_proj, self.o_proj = Linear(d, KV * hd), Linear(H * hd, d)
        self.post_attention_layernorm = RMSNorm(d, c["norm_eps"])
        self.gate_proj, self.up_proj, self.down_proj = Linear(d, c["ffn_dim"]), Linear(d, c["ffn_dim"]), \
            Linear(c["ffn_dim"], d)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, self.H, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(B, T, self.KV, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.KV, self.hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if self.KV != self.H:
            k = k.repeat_interleave(self.H // self.KV, dim=1)
            v = v.repeat_interleave(self.H // self.KV, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        a = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, self.H * self.hd)
        x = x + self.o_proj(a)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Model(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = torch.nn.Embedding(c["vocab"], c["dim"])
        self.layers = torch.nn.ModuleList(Block(c) for _ in range(c["n_layers"]))
        self.norm = RMSNorm(c["dim"], c["norm_eps"])
        self.lm_head = None if c["tied"] else torch.nn.Linear(c["dim"], c["vocab"], bias=False)
        hd = c["dim"] // c["n_heads"]
        inv = inv_freq_of(hd, c["rope_theta"], c.get("rope_scaling"))
        emb = torch.outer(torch.arange(c["context"], dtype=torch.float64), inv)
        emb = torch.cat((emb, emb), dim=-1)
        self.register_buffer("cos", emb.cos().float(), persistent=False)
        self.register_buffer("sin", emb.sin().float(), persistent=False)
        with torch.no_grad():   # Llama-style init, as weights_init_random does
            for n, p in self.named_parameters():
                if p.dim() == 2:
                    p.normal_(0.0, 0.02)
                    if n.endswith("o_proj.weight") or n.endswith("down_proj.weight"):
                        p.mul_(1.0 / math.sqrt(2 * c["n_layers"]))

    def forward(self, tokens, targets):
        T = tokens.shape[1]
        x = self.embed_tokens(tokens)
        mask = torch.full((T, T), float("-inf")).triu(1)
        cos, sin = self.cos[:T], self.sin[:T]
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        x = self.norm(x)
        logits = F.linear(x, self.embed_tokens.weight if self.lm_head is None else self.lm_head.weight)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


def proj_flops(c):
    """Per token, every projection of every layer (the counts of engine/model.c, so that GFLOP/s
    figures of the two programs are comparable)."""
    d, hd = c["dim"], c["dim"] // c["n_heads"]
    q, kv, f = c["n_heads"] * hd, c["n_kv_heads"] * hd, c["ffn_dim"]
    return c["n_layers"] * 2.0 * (d * q + 2 * d * kv + q * d + 3 * d * f)


def attn_flops(c, B, T):
    """QK^T and PV over causal pairs."""
    return c["n_layers"] * B * c["n_heads"] * (T * (T + 1) / 2) * 2.0 * 2 * (c["dim"] // c["n_heads"])


def forward_flops(c, B, T):
    return B * T * (proj_flops(c) + 2.0 * c["dim"] * c["vocab"]) + attn_flops(c, B, T)


def backward_flops(c, fmt, r, B, T):
    """Input gradients cost a forward's products and twice its attention; full adds the weight
    gradients; LoRA adds four small products per pair (dB, du; dA, dx)."""
    if fmt == "none":
        return 0.0
    n = B * T
    input_grads = n * (proj_flops(c) + 2.0 * c["dim"] * c["vocab"])
    total = input_grads + 2 * attn_flops(c, B, T)
    if fmt == "full":
        total += input_grads
    if fmt == "lora":
        d, hd = c["dim"], c["dim"] // c["n_heads"]
        q, kv, f = c["n_heads"] * hd, c["n_kv_heads"] * hd, c["ffn_dim"]
        io = [d + q, d + kv, d + kv, q + d, d + f, d + f, f + d]
        total += c["n_layers"] * sum(2 * 2.0 * n * r * x for x in io)
    return total


def setup(model, fmt, r):
    for p in model.parameters():
        p.requires_grad_(fmt == "full")
    if fmt == "norm":
        for n, p in model.named_parameters():
            if "norm" in n:
                p.requires_grad_(True)
    if fmt == "lora":
        for m in model.modules():
            if isinstance(m, Linear):
                m.add_lora(r, 2.0 * r)
    return [p for p in model.parameters() if p.requires_grad]


def sgemm_gflops(M, N, K):
    a, b = torch.randn(M, K), torch.randn(N, K)
    best, spent, rep = 0.0, 0.0, 0
    while rep < 20 and (rep < 3 or spent < 0.5):
        t0 = time.perf_counter()
        torch.mm(a, b.t())
        dt = time.perf_counter() - t0
        spent += dt
        if rep > 0:
            best = max(best, 2.0 * M * N * K / dt)
        rep += 1
    return best / 1e9


def main():
    ap = argparse.ArgumentParser(description="PyTorch peer of sweep bench")
    ap.add_argument("--format", default="all")
    ap.add_argument("--config", default="default", choices=sorted(CONFIGS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--seq", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--lora-rank", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--autocast", choices=["bf16"], help="run forward and backward under CPU autocast")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    c = CONFIGS[a.config]
    big = c["dim"] >= 1024
    B = a.batch or (1 if big else 8)
    T = a.seq or c["context"]
    steps = a.steps or (3 if big else 10)
    warmup = a.warmup if a.warmup is not None else (1 if big else 2)
    formats = FORMATS if a.format == "all" else a.format.split(",")
    for f in formats:
        if f not in FORMATS:
            print(f"torch_peer: --format: unknown format '{f}'", file=sys.stderr)
            return 2
    if T > c["context"]:
        print(f"torch_peer: --seq: {T} exceeds the context of {c['context']}", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    stream = torch.randint(0, c["vocab"], (B, T + 1))
    tokens, targets = stream[:, :-1].contiguous(), stream[:, 1:].contiguous()
    M = B * T
    sg = [sgemm_gflops(M, c["ffn_dim"], c["dim"]), sgemm_gflops(M, c["dim"], c["ffn_dim"]),
          sgemm_gflops(M, c["vocab"], c["dim"])]
    ac = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.autocast else None

    if not a.json:
        print(f"torch_peer: torch {torch.__version__}, config {a.config}, batch {B} x {T}, {a.threads} threads, "
              f"median of {steps} steps after {warmup} warmup{', autocast bf16' if ac else ''}")
        print(f"torch.mm GFLOP/s (M={M}): " + "  ".join(f"{x:.1f}" for x in sg))
    for fmt in formats:
        torch.manual_seed(a.seed)
        model = Model(c)
        params = setup(model, fmt, a.lora_rank)
        res = {"format": fmt}
        if params:
            opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
            dts, cts = [], []
            for s in range(warmup + steps):
                t0, c0 = time.perf_counter(), time.process_time()
                opt.zero_grad(set_to_none=True)
                if ac:
                    with ac():
                        loss = model(tokens, targets)
                else:
                    loss = model(tokens, targets)
                loss.backward()
                opt.step()
                if s >= warmup:
                    dts.append(time.perf_counter() - t0)
                    cts.append(time.process_time() - c0)
            step = statistics.median(dts)
            res["step_cpu_seconds"] = statistics.median(cts)
            res["train_tok_s"] = round(B * T / step, 1)
            res["step_seconds"] = step
            fl = forward_flops(c, B, T) + backward_flops(c, fmt, a.lora_rank, B, T)
            res["train_flops"] = fl
            res["gflops"] = round(fl / step / 1e9, 2)
        else:
            res["train_tok_s"] = None
            res["step_seconds"] = None
            res["step_cpu_seconds"] = None
            res["train_flops"] = None
        dts, cts = [], []
        with torch.inference_mode():
            for s in range(warmup + steps):
                t0, c0 = time.perf_counter(), time.process_time()
                if ac:
                    with ac():
                        loss = model(tokens, targets)
                else:
                    loss = model(tokens, targets)
                if s >= warmup:
                    dts.append(time.perf_counter() - t0)
                    cts.append(time.process_time() - c0)
        ev = statistics.median(dts)
        res["eval_cpu_seconds"] = statistics.median(cts)
        res["eval_tok_s"] = round(B * T / ev, 1)
        res["eval_seconds"] = ev
        res["eval_flops"] = forward_flops(c, B, T)
        res["eval_gflops"] = round(forward_flops(c, B, T) / ev / 1e9, 2)
        if not params:
            res["gflops"] = res["eval_gflops"]
        res.update(sgemm_gflops=round(max(sg), 2), sgemm_ffn_gflops=round(sg[0], 2),
                   sgemm_head_gflops=round(sg[2], 2), config=a.config, batch=B, seq=T, threads=a.threads,
                   steps=steps, trainable=sum(p.numel() for p in params), loss=round(loss.item(), 6),
                   peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                   engine="torch " + torch.__version__ + (" autocast bf16" if ac else " fp32"))
        if a.json:
            print(json.dumps(res), flush=True)
        else:
            tr = f"{res['train_tok_s']:12.0f}" if params else f"{'-':>12}"
            print(f"{fmt:6} train tok/s {tr}  eval tok/s {res['eval_tok_s']:10.0f}  GFLOP/s {res['gflops']:7.1f}  "
                  f"loss {res['loss']:.4f}  peak {res['peak_rss_mib']:.0f} MiB", flush=True)
        del model, params
    return 0


if __name__ == "__main__":
    sys.exit(main())
