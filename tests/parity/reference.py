"""PyTorch reference of sweep's decoder, written from the Hugging Face Llama definition (not from the C
code): token embedding, RMSNorm x * rsqrt(mean(x^2) + eps) * g, RoPE with rotate_half pairs
(j, j + hd/2), causal attention with grouped KV heads (head h reads KV head h // (H / KV)), optional
q/k/v biases, SwiGLU FFN, final RMSNorm, tied or untied head, mean cross-entropy (ignore_index -1).
LoRA adds scale * B(A x) to a projection, scale = alpha / r. Steering adds a learned vector to every
position of the residual stream after each steered block (Bet 58). Runs in float64 so that it is the truth
the fp32 engine is measured against.

Also the small file formats shared with parity_driver.c: the raw float32 weight blob in the
canonical tensor order of engine/weights.h, int32 token windows, and named float64 records.
"""
import math

import numpy as np
import torch

LORA_TARGETS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def tensor_table(cfg):
    """[(name, shape)] in the canonical order of engine/weights.h (HF names)."""
    d, hd = cfg["dim"], cfg["dim"] // cfg["n_heads"]
    q, kv, f = cfg["n_heads"] * hd, cfg["n_kv_heads"] * hd, cfg["ffn_dim"]
    t = [("model.embed_tokens.weight", (cfg["vocab"], d))]
    for i in range(cfg["n_layers"]):
        p = f"model.layers.{i}."
        t.append((p + "input_layernorm.weight", (d,)))
        t.append((p + "self_attn.q_proj.weight", (q, d)))
        if cfg["qkv_bias"]:
            t.append((p + "self_attn.q_proj.bias", (q,)))
        t.append((p + "self_attn.k_proj.weight", (kv, d)))
        if cfg["qkv_bias"]:
            t.append((p + "self_attn.k_proj.bias", (kv,)))
        t.append((p + "self_attn.v_proj.weight", (kv, d)))
        if cfg["qkv_bias"]:
            t.append((p + "self_attn.v_proj.bias", (kv,)))
        t.append((p + "self_attn.o_proj.weight", (d, q)))
        t.append((p + "post_attention_layernorm.weight", (d,)))
        t.append((p + "mlp.gate_proj.weight", (f, d)))
        t.append((p + "mlp.up_proj.weight", (f, d)))
        t.append((p + "mlp.down_proj.weight", (d, f)))
    t.append(("model.norm.weight", (d,)))
    if not cfg["tied"]:
        t.append(("lm_head.weight", (cfg["vocab"], d)))
    return t


def random_weights(cfg, seed):
    """Weights whose activations are O(1) at tiny widths, so attention and every nonlinearity are
    exercised away from their flat regions (std 0.02 would make a tiny model nearly uniform)."""
    rng = np.random.default_rng(seed)
    w = {}
    for name, shape in tensor_table(cfg):
        if name.endswith("layernorm.weight") or name == "model.norm.weight":
            x = 1.0 + 0.2 * rng.standard_normal(shape)
        elif name.endswith(".bias"):
            x = 0.3 * rng.standard_normal(shape)
        elif name == "model.embed_tokens.weight":
            x = 0.5 * rng.standard_normal(shape)   # tied: logits ~ 0.5 sqrt(dim), peaked but not saturated
        else:
            x = rng.standard_normal(shape) / math.sqrt(shape[1])
        w[name] = x.astype(np.float32)
    return w


def write_weights(path, cfg, w):
    with open(path, "wb") as f:
        for name, _ in tensor_table(cfg):
            f.write(w[name].astype("<f4").tobytes())


def write_tokens(path, windows):
    np.asarray(windows, dtype="<i4").tofile(path)


def write_records(path, recs):
    with open(path, "wb") as f:
        for name, x in recs.items():
            x = np.asarray(x, dtype=np.float64)
            x2 = x.reshape(x.shape[0], -1) if x.ndim >= 2 else x.reshape(-1, 1)
            f.write(f"{name} {x2.shape[0]} {x2.shape[1]}\n".encode())
            f.write(x2.astype("<f8").tobytes())


def read_records(path):
    recs = {}
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        nl = data.index(b"\n", pos)
        name, rows, cols = data[pos:nl].decode().split()
        rows, cols = int(rows), int(cols)
        pos = nl + 1
        n = rows * cols
        recs[name] = np.frombuffer(data, dtype="<f8", count=n, offset=pos).reshape(rows, cols).copy()
        pos += 8 * n
    return recs


def write_case(path, case):
    with open(path, "w") as f:
        for k, v in case.items():
            f.write(f"{k} {v}\n")


# ---- the model ------------------------------------------------------------------------------

def rmsnorm(x, g, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(x, theta, interleaved=False):
    """x [B, T, heads, hd]. interleaved=True is the GPT-J/Meta pairing (2j, 2j+1): a deliberately
    wrong convention that the parity test's negative control must be able to tell apart."""
    T, hd = x.shape[1], x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)     # [T, hd/2]
    if interleaved:
        cos, sin = freqs.cos()[None, :, None, :], freqs.sin()[None, :, None, :]
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None, :, None, :], emb.sin()[None, :, None, :]
    return x * cos + rotate_half(x) * sin


def forward(cfg, P, tokens, targets, lora=None, lora_scale=0.0, interleaved_rope=False, steer=None):
    """P: name -> float64 tensor (HF names); lora: name -> tensor for '<proj>.lora_A' / '.lora_B';
    steer: 'model.layers.{i}.steer' -> [dim] vector added to x after block i.
    Returns (logits [B*T, V], mean loss)."""
    H, KV = cfg["n_heads"], cfg["n_kv_heads"]
    hd = cfg["dim"] // H
    eps, B, T = cfg["norm_eps"], tokens.shape[0], tokens.shape[1]

    def proj(prefix, x):
        y = x @ P[prefix + ".weight"].T
        if prefix + ".bias" in P:
            y = y + P[prefix + ".bias"]
        if lora is not None and prefix + ".lora_A" in lora:
            y = y + lora_scale * ((x @ lora[prefix + ".lora_A"].T) @ lora[prefix + ".lora_B"].T)
        return y

    x = P["model.embed_tokens.weight"][tokens]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for i in range(cfg["n_layers"]):
        p = f"model.layers.{i}."
        h = rmsnorm(x, P[p + "input_layernorm.weight"], eps)
        q = proj(p + "self_attn.q_proj", h).view(B, T, H, hd)
        k = proj(p + "self_attn.k_proj", h).view(B, T, KV, hd)
        v = proj(p + "self_attn.v_proj", h).view(B, T, KV, hd)
        q, k = rope(q, cfg["rope_theta"], interleaved_rope), rope(k, cfg["rope_theta"], interleaved_rope)
        k = k.repeat_interleave(H // KV, dim=2)     # HF repeat_kv: head h uses KV head h // (H/KV)
        v = v.repeat_interleave(H // KV, dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)   # [B, H, T, hd]
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~causal, float("-inf"))
        a = torch.softmax(s, dim=-1) @ v
        a = a.transpose(1, 2).reshape(B, T, H * hd)
        x = x + proj(p + "self_attn.o_proj", a)
        h = rmsnorm(x, P[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(proj(p + "mlp.gate_proj", h)) * proj(p + "mlp.up_proj", h)
        x = x + proj(p + "mlp.down_proj", g)
        if steer is not None and p + "steer" in steer:
            x = x + steer[p + "steer"]
    x = rmsnorm(x, P["model.norm.weight"], eps)
    head = P["model.embed_tokens.weight"] if cfg["tied"] else P["lm_head.weight"]
    logits = (x @ head.T).reshape(B * T, -1)
    loss = torch.nn.functional.cross_entropy(logits, targets.reshape(-1), ignore_index=-1)
    return logits, loss


def ternary_rows(w):
    """The engine's ternary rule (engine/ternary.c ternary_quantize_rows) on float64 holding float32 values:
    per output row s = mean |w| rounded to float32, trit = clamp(round half to even (w / s), -1, 1); s = 0
    gives trits 0. Returns trit * s."""
    s = w.abs().mean(dim=1, keepdim=True).float().double()
    t = torch.where(s > 0, torch.clamp(torch.round(w / torch.where(s > 0, s, 1.0)), -1, 1), torch.zeros_like(w))
    return t * s


def qat_weights(cfg, P, leaves=False):
    """The weights a quantisation-aware step's forward sees (engine/qat.h, written from BitNet b1.58's
    recipe): each projection ternary per row (ternary_rows), the embedding and untied head rounded to bf16
    (as a ternary model file stores them), vectors unchanged. The engine's latent weights are float32, so
    they are rounded to float32 first. Gradients pass straight through to P (w + (q(w) - w).detach()), or,
    with leaves=True, the quantised matrices are new leaf tensors (the gradient of the quantised weights)."""
    Q = dict(P)
    for name, shape in tensor_table(cfg):
        if len(shape) != 2:
            continue
        w = P[name]
        w32 = w.detach().float().double()
        if name in ("model.embed_tokens.weight", "lm_head.weight"):
            q = w32.float().bfloat16().double()
        else:
            q = ternary_rows(w32)
        Q[name] = q.clone().requires_grad_(True) if leaves else w + (q - w).detach()
    return Q


def steer_blocks(cfg, layers):
    """The blocks of a steer_layers value: "last" or "0,1"."""
    return [cfg["n_layers"] - 1] if layers == "last" else sorted(int(x) for x in layers.split(","))


def trainable_names(cfg, fmt, steer_layers="last"):
    """The names parity_driver.c gives the adapter's trainable tensors, in its order."""
    if fmt == "none":
        return []
    if fmt == "steer":
        return [f"model.layers.{i}.steer" for i in steer_blocks(cfg, steer_layers)]
    if fmt == "norm":
        names = []
        for i in range(cfg["n_layers"]):
            names += [f"model.layers.{i}.input_layernorm.weight", f"model.layers.{i}.post_attention_layernorm.weight"]
        return names + ["model.norm.weight"]
    if fmt == "lora":
        return [f"model.layers.{i}.{t}.lora_{ab}" for i in range(cfg["n_layers"]) for t in LORA_TARGETS
                for ab in "AB"]
    if fmt == "full":
        return [n for n, _ in tensor_table(cfg)]
    raise ValueError(fmt)


def as_matrix(t):
    """A copy as a [rows][cols] array (vectors as a column); a copy, because .numpy() shares memory
    with a gradient that the next backward overwrites."""
    x = t.detach().clone().numpy()
    return x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(-1, 1)


def run(cfg, case, weights, windows, init, interleaved_rope=False):
    """The reference's numbers for one format, as a dict of records like parity_driver's output.
    init: the adapter's starting values by name (LoRA A comes from the C side so both start equal).
    case["qat"]: full training through qat_weights; adds qgrad.* (the gradients of the quantised weights
    as leaves, which the straight-through rule hands to the latent weights unchanged)."""
    fmt = case["format"]
    qat = bool(case.get("qat", 0))
    torch.set_default_dtype(torch.float64)
    win = torch.as_tensor(np.asarray(windows, dtype=np.int64))
    tokens, targets = win[:, :-1], win[:, 1:]
    P = {n: torch.tensor(w, dtype=torch.float64) for n, w in weights.items()}
    lora, scale, steer = None, 0.0, None
    train = []
    for name in trainable_names(cfg, fmt, case.get("steer_layers", "last")):
        if fmt == "steer":
            steer = steer if steer is not None else {}
            t = torch.tensor(init[name].reshape(-1), dtype=torch.float64, requires_grad=True)
            steer[name] = t
            train.append((name, t))
        elif fmt == "lora":
            lora = lora if lora is not None else {}
            t = torch.tensor(init[name], dtype=torch.float64, requires_grad=True)
            lora[name] = t
            train.append((name, t))
        else:
            t = torch.tensor(init[name].reshape(P[name].shape), dtype=torch.float64, requires_grad=True)
            P[name] = t
            train.append((name, t))
    if fmt == "lora":
        scale = case["lora_alpha"] / case["lora_rank"]

    def fwd():
        return forward(cfg, qat_weights(cfg, P) if qat else P, tokens, targets, lora, scale, interleaved_rope, steer)

    out = {}
    logits, loss = fwd()
    out["logits"] = logits.detach().numpy()
    out["loss"] = np.array([[loss.item()]])
    if not train:
        return out
    loss.backward()
    for name, t in train:
        out["grad." + name] = as_matrix(t.grad)
    if qat:
        Q = qat_weights(cfg, {n: t.detach() for n, t in P.items()}, leaves=True)
        for name, _ in train:   # vectors are not quantised: leaves of their own here
            if not Q[name].requires_grad:
                Q[name] = Q[name].clone().requires_grad_(True)
        _, qloss = forward(cfg, Q, tokens, targets)
        qloss.backward()
        for name, _ in train:
            out["qgrad." + name] = as_matrix(Q[name].grad)

    params = [t for _, t in train]
    opt = torch.optim.AdamW(params, lr=case["lr"], betas=(case["beta1"], case["beta2"]), eps=case["eps"],
                            weight_decay=case["weight_decay"])
    losses, gnorms = [], []
    for _ in range(case["steps"]):
        opt.zero_grad()
        _, loss = fwd()
        loss.backward()
        losses.append(loss.item())
        if case["grad_clip"] > 0:
            gn = torch.nn.utils.clip_grad_norm_(params, case["grad_clip"])
        else:
            gn = torch.sqrt(sum((p.grad ** 2).sum() for p in params))
        gnorms.append(gn.item())
        opt.step()
    with torch.no_grad():
        _, loss = fwd()
    losses.append(loss.item())
    out["losses"] = np.array([losses])
    out["grad_norms"] = np.array([gnorms])
    for name, t in train:
        out["final." + name] = as_matrix(t)
    return out
