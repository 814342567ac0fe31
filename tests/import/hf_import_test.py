"""Hugging Face import, end to end: tiny random LlamaForCausalLM / Qwen2ForCausalLM checkpoints
written here (torch for the numbers, the standard library for the safetensors layout: u64 header
length, JSON header, raw little-endian tensors), converted by `sweep import`, and the engine's
logits compared with a float64 PyTorch forward written from Hugging Face's modeling_llama.py /
modeling_qwen2.py (transformers is not installed; the reference follows its code: RMSNorm in the
input dtype after a float32 variance, rotate_half RoPE on cat(freqs, freqs), repeat_kv, causal
softmax attention with 1/sqrt(head_dim), SwiGLU, tied or untied lm_head).

Also: the same reference with interleaved-pair RoPE (the Meta / llama2.c layout) must be far from
the engine, which proves the test would see a RoPE permutation; ternary import and `sweep quantize`
against a ternary reference quantised here; `sweep eval` perplexity against the reference; and
exit status 2 with one line naming the file and the field or tensor for bad checkpoints and bad
model files.

usage: hf_import_test.py --sweep SWEEP --logits ENGINE_LOGITS --work DIR CASE [CASE...] (or all)
"""
import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import torch

TOL = 1e-4          # max |engine - reference| / max |reference| over all logits
ROPE_MIN_DIFF = 1e-2  # the interleaved-RoPE reference must be at least this far from the engine

failures = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    if not cond:
        failures.append(msg)


# ---------------------------------------------------------------------------------------------
# checkpoints

def hf_config(arch, tied, dtype, theta=10000.0, **extra):
    c = {
        "architectures": [arch], "model_type": "qwen2" if arch.startswith("Qwen2") else "llama",
        "hidden_size": 32, "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2,
        "num_hidden_layers": 2, "vocab_size": 61, "rms_norm_eps": 1e-5, "rope_theta": theta,
        "max_position_embeddings": 128, "tie_word_embeddings": tied, "hidden_act": "silu",
        "torch_dtype": dtype, "rope_scaling": None,
    }
    if arch.startswith("Llama"):
        c.update({"attention_bias": False, "mlp_bias": False})
    else:
        c.update({"use_sliding_window": False, "sliding_window": 4096})
    c.update(extra)
    return c


def random_state(cfg, seed):
    """HF state dict with O(1) activations at tiny width (so attention and SiLU are exercised)."""
    g = torch.Generator().manual_seed(seed)
    d, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, f, V = d // H, cfg["intermediate_size"], cfg["vocab_size"]
    qwen = cfg["architectures"][0].startswith("Qwen2")

    def lin(o, i):
        return torch.randn(o, i, generator=g, dtype=torch.float64) / math.sqrt(i)

    def vec(n, base):
        return base + 0.2 * torch.randn(n, generator=g, dtype=torch.float64)

    s = {"model.embed_tokens.weight": torch.randn(V, d, generator=g, dtype=torch.float64)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        s[p + "input_layernorm.weight"] = vec(d, 1.0)
        s[p + "self_attn.q_proj.weight"] = lin(H * hd, d)
        s[p + "self_attn.k_proj.weight"] = lin(KV * hd, d)
        s[p + "self_attn.v_proj.weight"] = lin(KV * hd, d)
        if qwen:
            s[p + "self_attn.q_proj.bias"] = vec(H * hd, 0.0)
            s[p + "self_attn.k_proj.bias"] = vec(KV * hd, 0.0)
            s[p + "self_attn.v_proj.bias"] = vec(KV * hd, 0.0)
        s[p + "self_attn.o_proj.weight"] = lin(d, H * hd)
        s[p + "post_attention_layernorm.weight"] = vec(d, 1.0)
        s[p + "mlp.gate_proj.weight"] = lin(f, d)
        s[p + "mlp.up_proj.weight"] = lin(f, d)
        s[p + "mlp.down_proj.weight"] = lin(d, f)
    s["model.norm.weight"] = vec(d, 1.0)
    if not cfg["tie_word_embeddings"]:
        s["lm_head.weight"] = lin(V, d)
    # a buffer some checkpoints carry; the importer must ignore it
    s["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.arange(hd // 2, dtype=torch.float64)
    return s


ST_DTYPES = {"F32": (torch.float32, "<f4"), "F16": (torch.float16, "<f2"), "BF16": (torch.bfloat16, None)}


def stored(state, st_dtype):
    """The tensors as the checkpoint stores them, and their exact float64 values."""
    tdt = ST_DTYPES[st_dtype][0]
    return {k: v.to(tdt) for k, v in state.items()}, {k: v.to(tdt).to(torch.float64) for k, v in state.items()}


def tensor_bytes(t):
    if t.dtype == torch.bfloat16:
        return t.contiguous().view(torch.int16).numpy().astype("<i2").tobytes()
    if t.dtype == torch.int64:
        return t.numpy().astype("<i8").tobytes()
    return t.contiguous().numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def dtype_name(t):
    return {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}[t.dtype]


def write_safetensors(path, tensors, header_override=None, truncate=0):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        b = tensor_bytes(t)
        header[name] = {"dtype": dtype_name(t), "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if header_override:
        header_override(header)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)   # the reference writer pads the header to 8 bytes
    data = struct.pack("<Q", len(h)) + h + b"".join(blobs)
    with open(path, "wb") as f:
        f.write(data[:len(data) - truncate] if truncate else data)


def write_checkpoint(d, cfg, tensors, shards=1):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), tensors)
        return
    names = list(tensors)
    per = (len(names) + shards - 1) // shards
    weight_map = {}
    for s in range(shards):
        fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[s * per:(s + 1) * per]}
        write_safetensors(os.path.join(d, fn), part)
        weight_map.update({n: fn for n in part})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)


# ---------------------------------------------------------------------------------------------
# reference forward (HF semantics, float64)

def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def inv_freq_of(hd, theta, scaling=None):
    """RoPE inverse frequencies; with a llama3 rope_scaling, Hugging Face's _compute_llama3_parameters
    written out here from its published formula (torch.where over the three wavelength bands)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    if not scaling:
        return inv_freq
    rope_type = scaling.get("rope_type", scaling.get("type"))
    assert rope_type == "llama3", rope_type
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_ctx = scaling["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old_ctx / low, old_ctx / high
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_ctx / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return torch.where(medium, smoothed, scaled)


def rope_bands(hd, theta, scaling):
    """How many frequency pairs fall in the high (kept), medium (blended) and low (divided) bands."""
    wavelen = 2 * math.pi / inv_freq_of(hd, theta)
    old_ctx = scaling["original_max_position_embeddings"]
    hi_wl, lo_wl = old_ctx / scaling["high_freq_factor"], old_ctx / scaling["low_freq_factor"]
    return (int((wavelen < hi_wl).sum()), int(((wavelen >= hi_wl) & (wavelen <= lo_wl)).sum()),
            int((wavelen > lo_wl).sum()))


def rope_hf(x, theta, scaling=None):   # x [heads, T, hd]
    T, hd = x.shape[1], x.shape[2]
    inv_freq = inv_freq_of(hd, theta, scaling)
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return x * emb.cos() + rotate_half(x) * emb.sin()


def rope_interleaved(x, theta, scaling=None):   # pairs (2j, 2j+1): the layout HF weights would need permuting for
    T, hd = x.shape[1], x.shape[2]
    inv_freq = inv_freq_of(hd, theta, scaling)
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    c, s = ang.cos(), ang.sin()
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def forward(cfg, w, tokens, rope=rope_hf):
    d, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps, theta = d // H, cfg["rms_norm_eps"], cfg.get("rope_theta", 10000.0)
    qwen = cfg["architectures"][0].startswith("Qwen2")
    T = len(tokens)
    x = w["model.embed_tokens.weight"][torch.tensor(tokens)]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q, k, v = (h @ w[p + f"self_attn.{n}_proj.weight"].T for n in "qkv")
        if qwen:
            q, k, v = (t + w[p + f"self_attn.{n}_proj.bias"] for t, n in zip((q, k, v), "qkv"))
        q = rope(q.view(T, H, hd).transpose(0, 1), theta, cfg.get("rope_scaling"))
        k = rope(k.view(T, KV, hd).transpose(0, 1), theta, cfg.get("rope_scaling"))
        v = v.view(T, KV, hd).transpose(0, 1)
        k, v = k.repeat_interleave(H // KV, dim=0), v.repeat_interleave(H // KV, dim=0)   # repeat_kv
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1)
        o = (att @ v).transpose(0, 1).reshape(T, H * hd)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate, up = h @ w[p + "mlp.gate_proj.weight"].T, h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return x @ head.T


def ternary(w):
    """BitNet b1.58 per output row, computed here: s = mean|w_row| (rounded to float32, as the file
    stores it), trit = clamp(round(w / s), -1, 1)."""
    s = w.abs().mean(dim=1, keepdim=True).to(torch.float32).to(torch.float64)
    q = torch.where(s > 0, torch.round(w / torch.where(s > 0, s, torch.ones_like(s))), torch.zeros_like(w))
    return q.clamp(-1, 1) * s


def ternary_weights(w):
    return {k: ternary(v) if ("_proj.weight" in k) else v for k, v in w.items()}


# ---------------------------------------------------------------------------------------------
# running the tools

def run(args, expect=0):
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != expect:
        print(f"  command: {' '.join(args)}\n  status {p.returncode}\n  stdout: {p.stdout}\n  stderr: {p.stderr}")
    return p


def engine_logits(opt, model, tokens):
    tok_path = os.path.join(opt.work, "tokens.i32")
    np.asarray(tokens, dtype="<i4").tofile(tok_path)
    out = os.path.join(opt.work, "logits.f32")
    p = run([opt.logits, model, tok_path, out])
    if p.returncode:
        return None
    return torch.from_numpy(np.fromfile(out, dtype="<f4").astype(np.float64)).view(len(tokens), -1)


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


TOKENS = [3, 17, 42, 5, 60, 0, 9, 33, 33, 21, 58, 7, 1, 44]


def import_and_compare(opt, name, cfg, st_dtype, shards=1, extra=(), ref_weights=None, seed=1):
    state = random_state(cfg, seed)
    tensors, exact = stored(state, st_dtype)
    d = os.path.join(opt.work, name)
    write_checkpoint(d, cfg, tensors, shards)
    out = os.path.join(opt.work, name + ".sweep")
    p = run([opt.sweep, "import", d, out, *extra])
    check(p.returncode == 0, f"{name}: sweep import exits 0")
    if p.returncode:
        return None, None, exact
    check("bits/weight" in p.stdout, f"{name}: import prints sizes and bits per weight")
    got = engine_logits(opt, out, TOKENS)
    check(got is not None, f"{name}: engine runs the imported file")
    if got is None:
        return None, out, exact
    w = ref_weights(exact) if ref_weights else exact
    ref = forward(cfg, w, TOKENS)
    e = rel(got, ref)
    check(e < TOL, f"{name}: engine logits vs HF reference forward: rel err {e:.2e} < {TOL:g}")
    e_int = rel(got, forward(cfg, w, TOKENS, rope_interleaved))
    check(e_int > ROPE_MIN_DIFF, f"{name}: interleaved-RoPE reference is far from the engine ({e_int:.2e} > {ROPE_MIN_DIFF:g}),"
          " so a RoPE permutation would be caught")
    return got, out, exact


def case_llama_f32(opt):
    import_and_compare(opt, "llama_f32", hf_config("LlamaForCausalLM", False, "float32"), "F32")


def case_qwen2_bf16_sharded(opt):
    cfg = hf_config("Qwen2ForCausalLM", True, "bfloat16", theta=1000000.0)
    _, out, _ = import_and_compare(opt, "qwen2_bf16_sharded", cfg, "BF16", shards=3)
    if out:   # bf16 stays bf16: the file is about half the f32 size
        meta = model_meta(out)
        dts = {t["dtype"] for t in meta["tensors"] if t["name"].endswith("_proj.weight")}
        check(dts == {"bf16"}, f"qwen2_bf16_sharded: projections stay bf16 ({dts})")
        check(meta["config"]["qkv_bias"] is True and meta["config"]["tied"] is True, "qwen2: qkv_bias and tied recorded")


def case_llama_f16_tied(opt):
    import_and_compare(opt, "llama_f16_tied", hf_config("LlamaForCausalLM", True, "float16"), "F16")


# Llama 3's rope_scaling at a size where it matters: original_max_position_embeddings 32 and
# head_dim 32 put frequency pairs in all three bands, so the 14-token test sequence sees the scaled
# frequencies (Llama 3.2's 8192 would only touch angles too small to show at 14 positions).
LLAMA3_SCALING = {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                  "original_max_position_embeddings": 32, "rope_type": "llama3"}


def llama3_config(scaling=LLAMA3_SCALING, **extra):
    return hf_config("LlamaForCausalLM", False, "float32", hidden_size=64, num_attention_heads=2,
                     num_key_value_heads=1, rope_scaling=scaling, **extra)


def case_llama3_rope(opt):
    cfg = llama3_config()
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    bands = rope_bands(hd, cfg["rope_theta"], LLAMA3_SCALING)
    check(all(b > 0 for b in bands), f"llama3: head_dim {hd} has pairs in every band (high/medium/low {bands})")
    ref_plain = forward({**cfg, "rope_scaling": None}, random_state(cfg, 21), TOKENS)
    ref_scaled = forward(cfg, random_state(cfg, 21), TOKENS)
    check(rel(ref_plain, ref_scaled) > 100 * TOL,
          f"llama3: the scaling moves the reference logits ({rel(ref_plain, ref_scaled):.2e} > {100 * TOL:g}), "
          "so an engine ignoring it fails the comparison")
    got, out, exact = import_and_compare(opt, "llama3_rope", cfg, "F32", seed=21)
    if not out:
        return
    meta = model_meta(out)
    check(meta["config"].get("rope_scaling") == LLAMA3_SCALING, f"llama3: model file records rope_scaling "
          f"({meta['config'].get('rope_scaling')})")
    check(rel(got, forward({**cfg, "rope_scaling": None}, exact, TOKENS)) > 100 * TOL,
          "llama3: engine logits are far from the unscaled reference")

    # the test fails when the scaling is ignored: --ignore-rope-scaling gives plain RoPE
    ign = os.path.join(opt.work, "llama3_ignored.sweep")
    p = run([opt.sweep, "import", os.path.join(opt.work, "llama3_rope"), ign, "--ignore-rope-scaling"])
    check(p.returncode == 0 and "rope_scaling" in p.stderr and "ignored" in p.stderr,
          "llama3 --ignore-rope-scaling imports with a warning")
    gi = engine_logits(opt, ign, TOKENS) if p.returncode == 0 else None
    if gi is not None:
        e_s, e_p = rel(gi, forward(cfg, exact, TOKENS)), rel(gi, forward({**cfg, "rope_scaling": None}, exact, TOKENS))
        check(e_s > 100 * TOL, f"llama3 ignored: engine vs scaled reference {e_s:.2e} > {100 * TOL:g} (the check above "
              "would fail)")
        check(e_p < TOL, f"llama3 ignored: engine vs unscaled reference {e_p:.2e} < {TOL:g}")
        check("rope_scaling" not in model_meta(ign)["config"], "llama3 ignored: no rope_scaling in the model file")

    # the older "type" key reads the same, in bf16 too
    old_key = {k: v for k, v in LLAMA3_SCALING.items() if k != "rope_type"}
    old_key["type"] = "llama3"
    import_and_compare(opt, "llama3_type_key_bf16", llama3_config(old_key, torch_dtype="bfloat16"), "BF16", seed=22)
    # Llama 3.2 1B's own values (theta 500000, factor 32, original context 8192)
    l32 = {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
           "original_max_position_embeddings": 8192, "rope_type": "llama3"}
    import_and_compare(opt, "llama32_values", llama3_config(l32, rope_theta=500000.0, max_position_embeddings=131072),
                       "F32", seed=23)

    # quantize keeps it
    q = os.path.join(opt.work, "llama3_ternary.sweep")
    p = run([opt.sweep, "quantize", out, q, "--ternary"])
    check(p.returncode == 0 and model_meta(q)["config"].get("rope_scaling") == LLAMA3_SCALING,
          "llama3: sweep quantize keeps rope_scaling")


def case_ternary(opt):
    cfg = hf_config("LlamaForCausalLM", False, "float32")
    got, out, exact = import_and_compare(opt, "llama_ternary", cfg, "F32", extra=("--ternary",),
                                         ref_weights=ternary_weights, seed=5)
    if not out:
        return
    meta = model_meta(out)
    dts = {t["dtype"] for t in meta["tensors"] if t["name"].endswith("_proj.weight")}
    check(dts == {"ternary"}, f"ternary import: projections are ternary ({dts})")
    check(meta["quantization"].get("embed") == "f32", "ternary import: embedding keeps the checkpoint's f32")
    full = forward(cfg, exact, TOKENS)
    check(rel(got, full) > 10 * TOL, "ternary logits differ from the fp reference (quantisation happened)")
    # sweep quantize of the fp import gives the same logits as import --ternary
    fp = os.path.join(opt.work, "llama_fp_for_quantize.sweep")
    run([opt.sweep, "import", os.path.join(opt.work, "llama_ternary"), fp])
    q = os.path.join(opt.work, "llama_quantized.sweep")
    p = run([opt.sweep, "quantize", fp, q, "--ternary", "--embed-dtype", "f32"])
    check(p.returncode == 0 and "ternary" in p.stdout and "bits/weight" in p.stdout,
          "sweep quantize --ternary prints parts and bits per weight")
    gq = engine_logits(opt, q, TOKENS)
    check(gq is not None and rel(gq, got) < 1e-6, "quantize of the fp import == import --ternary")


def case_eval(opt):
    cfg = hf_config("LlamaForCausalLM", False, "float32")
    state = random_state(cfg, 9)
    tensors, exact = stored(state, "F32")
    d = os.path.join(opt.work, "eval_ckpt")
    write_checkpoint(d, cfg, tensors)
    fp, tq = os.path.join(opt.work, "eval_fp.sweep"), os.path.join(opt.work, "eval_ternary.sweep")
    check(run([opt.sweep, "import", d, fp]).returncode == 0, "eval: fp import")
    check(run([opt.sweep, "quantize", fp, tq, "--ternary"]).returncode == 0, "eval: quantize")
    tokens = [(i * 7 + 3) % 61 for i in range(40)]
    tok_path = os.path.join(opt.work, "eval_tokens.i32")
    np.asarray(tokens, dtype="<i4").tofile(tok_path)
    p = run([opt.sweep, "eval", fp, tq, tok_path, "--tokens", "--seq", "39"])
    check(p.returncode == 0, "sweep eval fp ternary --tokens exits 0")
    ppl = [float(line.split("ppl ")[1].split()[0]) for line in p.stdout.splitlines() if " ppl " in line]
    # one window of 39 predictions; the ternary file keeps a bf16 embedding and head
    logits = forward(cfg, exact, tokens[:-1])
    nll = torch.nn.functional.cross_entropy(logits, torch.tensor(tokens[1:]))
    ref_fp = math.exp(float(nll))
    wq = ternary_weights(exact)
    for k in ("model.embed_tokens.weight", "lm_head.weight"):
        wq[k] = wq[k].to(torch.bfloat16).to(torch.float64)
    ref_q = math.exp(float(torch.nn.functional.cross_entropy(forward(cfg, wq, tokens[:-1]), torch.tensor(tokens[1:]))))
    check(len(ppl) == 2, f"eval prints one perplexity per model ({ppl})")
    if len(ppl) == 2:
        check(abs(ppl[0] / ref_fp - 1) < 1e-4, f"eval fp ppl {ppl[0]:.5f} vs reference {ref_fp:.5f}")
        check(abs(ppl[1] / ref_q - 1) < 1e-4, f"eval ternary ppl {ppl[1]:.5f} vs reference {ref_q:.5f}")
        check("ratio to" in p.stdout, "eval prints the ratio to the first model")


# ---------------------------------------------------------------------------------------------
# bad input

def expect_exit2(opt, what, args, needles):
    p = run(args, expect=2)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    ok = p.returncode == 2 and len(lines) == 1 and all(n in lines[0] for n in needles)
    check(ok, f"{what}: exit 2, one line naming {needles}" + ("" if ok else f" (got {p.returncode}: {p.stderr.strip()})"))


def case_bad_checkpoint(opt):
    base_cfg = hf_config("Qwen2ForCausalLM", False, "float32")
    state = random_state(base_cfg, 3)
    tensors, _ = stored(state, "F32")
    out = os.path.join(opt.work, "bad.sweep")
    n = [0]

    def ckpt(cfg=base_cfg, t=tensors, shards=1, **st):
        n[0] += 1
        d = os.path.join(opt.work, f"bad_ckpt_{n[0]}")
        shutil.rmtree(d, ignore_errors=True)
        write_checkpoint(d, cfg, t, shards)
        if st:
            write_safetensors(os.path.join(d, "model.safetensors"), t, **st)
        return d

    Q = "model.layers.1.self_attn.q_proj.weight"
    d = ckpt(cfg={**base_cfg, "architectures": ["GPT2LMHeadModel"]})
    expect_exit2(opt, "unsupported architecture", [opt.sweep, "import", d, out], [d + "/config.json", "architectures"])
    cfg = dict(base_cfg)
    del cfg["hidden_size"]
    d = ckpt(cfg=cfg)
    expect_exit2(opt, "config without hidden_size", [opt.sweep, "import", d, out], ["config.json", "hidden_size"])
    for what, rs in [("yarn", {"rope_type": "yarn", "factor": 4.0}), ("linear under the old key", {"type": "linear", "factor": 2.0}),
                     ("no type", {"factor": 2.0})]:
        d = ckpt(cfg={**base_cfg, "rope_scaling": rs})
        expect_exit2(opt, f"rope_scaling {what}", [opt.sweep, "import", d, out],
                     ["config.json", "rope_scaling", "is not applied by the engine"])
        check(run([opt.sweep, "import", d, out + ".rope", "--ignore-rope-scaling"]).returncode == 0,
              f"--ignore-rope-scaling imports rope_scaling {what} anyway")
    full = dict(LLAMA3_SCALING)
    for what, rs, field in [
        ("llama3 without its factors", {"rope_type": "llama3", "factor": 32.0}, "rope_scaling.low_freq_factor"),
        ("llama3 without original context", {k: v for k, v in full.items() if k != "original_max_position_embeddings"},
         "rope_scaling.original_max_position_embeddings"),
        ("llama3 factor as text", {**full, "factor": "8"}, "rope_scaling.factor"),
        ("llama3 fractional original context", {**full, "original_max_position_embeddings": 31.5},
         "rope_scaling.original_max_position_embeddings"),
        ("llama3 factor below 1", {**full, "factor": 0.5}, "rope_scaling.factor"),
        ("llama3 high_freq_factor not above low", {**full, "high_freq_factor": 1.0}, "rope_scaling.high_freq_factor"),
        ("rope_type and type disagree", {**full, "type": "linear"}, "disagree"),
    ]:
        d = ckpt(cfg={**base_cfg, "rope_scaling": rs})
        expect_exit2(opt, f"rope_scaling: {what}", [opt.sweep, "import", d, out], ["config.json", field])
    d = ckpt(cfg={**base_cfg, "rope_scaling": {"rope_type": "default"}})
    p = run([opt.sweep, "import", d, out + ".rope"])
    check(p.returncode == 0 and not p.stderr.strip(), "rope_type default is plain RoPE: imports without a warning")
    d = ckpt(cfg={**base_cfg, "hidden_act": "gelu"})
    expect_exit2(opt, "hidden_act gelu", [opt.sweep, "import", d, out], ["config.json", "hidden_act"])
    d = ckpt(cfg={**base_cfg, "num_key_value_heads": 3})
    expect_exit2(opt, "kv heads not dividing heads", [opt.sweep, "import", d, out], ["config.json", "n_kv_heads"])
    d = ckpt(t={k: v for k, v in tensors.items() if k != Q})
    expect_exit2(opt, "missing tensor", [opt.sweep, "import", d, out], ["model.safetensors", Q])
    d = ckpt(t={k: (v[:, :-1] if k == Q else v) for k, v in tensors.items()})
    expect_exit2(opt, "tensor shape vs config", [opt.sweep, "import", d, out], ["model.safetensors", Q, "shape"])
    d = ckpt(t={k: (v.to(torch.int64) if k == Q else v) for k, v in tensors.items()})
    expect_exit2(opt, "integer tensor", [opt.sweep, "import", d, out], ["model.safetensors", Q, "I64"])
    d = ckpt(truncate=100)
    expect_exit2(opt, "truncated safetensors", [opt.sweep, "import", d, out], ["model.safetensors", "out of bounds"])

    def bad_offsets(h):
        h[Q]["data_offsets"][1] += 4
    d = ckpt(header_override=bad_offsets)
    expect_exit2(opt, "data_offsets vs shape", [opt.sweep, "import", d, out], ["model.safetensors", Q])

    def bad_dtype(h):
        h[Q]["dtype"] = "Q4"
    d = ckpt(header_override=bad_dtype)
    expect_exit2(opt, "unknown safetensors dtype", [opt.sweep, "import", d, out], ["model.safetensors", Q, "dtype"])
    d = ckpt()
    with open(os.path.join(d, "model.safetensors"), "r+b") as f:
        f.write(struct.pack("<Q", 1 << 40))
    expect_exit2(opt, "header length beyond the file", [opt.sweep, "import", d, out], ["model.safetensors", "header length"])
    d = ckpt(shards=2)
    idx = os.path.join(d, "model.safetensors.index.json")
    j = json.load(open(idx))
    del j["weight_map"][Q]
    json.dump(j, open(idx, "w"))
    expect_exit2(opt, "sharded index without a tensor", [opt.sweep, "import", d, out], ["index.json", Q])
    d = ckpt()
    os.remove(os.path.join(d, "model.safetensors"))
    expect_exit2(opt, "no weights", [opt.sweep, "import", d, out], [d, "model.safetensors"])
    check(not os.path.exists(out), "no output file is left behind by failed imports")


def model_meta(path):
    with open(path, "rb") as f:
        head = f.read(64)
        meta_len = struct.unpack_from("<Q", head, 16)[0]
        return json.loads(f.read(meta_len))


def fnv1a64(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def rewrite_meta(src, dst, edit):
    """dst = src with its metadata edited and padded to the same length, metadata checksum fixed."""
    data = bytearray(open(src, "rb").read())
    meta_len = struct.unpack_from("<Q", data, 16)[0]
    meta = json.loads(data[64:64 + meta_len])
    edit(meta)
    txt = json.dumps(meta, separators=(",", ":")).encode()
    assert len(txt) <= meta_len
    data[64:64 + meta_len] = txt + b" " * (meta_len - len(txt))
    struct.pack_into("<Q", data, 40, fnv1a64(bytes(data[64:64 + meta_len])))
    open(dst, "wb").write(data)


def case_bad_model(opt):
    cfg = hf_config("LlamaForCausalLM", False, "float32")
    state = random_state(cfg, 4)
    tensors, _ = stored(state, "F32")
    d = os.path.join(opt.work, "badmodel_ckpt")
    write_checkpoint(d, cfg, tensors)
    good = os.path.join(opt.work, "badmodel_good.sweep")
    check(run([opt.sweep, "import", d, good, "--ternary"]).returncode == 0, "bad model files: good file imports")
    tok = os.path.join(opt.work, "badmodel_tokens.i32")
    np.asarray(TOKENS, dtype="<i4").tofile(tok)
    bad = os.path.join(opt.work, "corrupt.sweep")
    Q = "model.layers.1.self_attn.q_proj.weight"
    meta = model_meta(good)
    qt = next(t for t in meta["tensors"] if t["name"] == Q)
    data_off = struct.unpack_from("<Q", open(good, "rb").read(64), 24)[0]

    def both(what, needles):
        expect_exit2(opt, what + " (eval)", [opt.sweep, "eval", bad, tok, "--tokens"], [bad] + needles)
        expect_exit2(opt, what + " (quantize)", [opt.sweep, "quantize", bad, bad + ".q", "--ternary"], [bad] + needles)

    def raw_edit(fn):
        data = bytearray(open(good, "rb").read())
        data = fn(data)
        open(bad, "wb").write(data)

    raw_edit(lambda b: b"NOTSWEEP" + b[8:])
    both("bad magic", ["magic"])
    raw_edit(lambda b: b[:8] + struct.pack("<I", 7) + b[12:])
    both("unknown version", ["version 7"])
    raw_edit(lambda b: b[:len(b) - 10])
    both("truncated", ["truncated"])
    raw_edit(lambda b: b[:40])
    both("truncated header", ["truncated"])

    def flip(b):
        b[data_off + qt["offset"] + 3] ^= 1
        return b
    raw_edit(flip)
    both("checksum mismatch", [Q, "checksum"])

    def set_field(key, value):
        def e(m):
            next(t for t in m["tensors"] if t["name"] == Q)[key] = value
        return e
    for what, edit, needles in [
        ("unknown dtype", set_field("dtype", "int5"), [Q, "dtype"]),
        ("shape vs config", set_field("shape", [32, 31]), [Q, "shape"]),
        ("out of bounds", set_field("offset", qt["offset"] + (1 << 24)), [Q, "out of bounds"]),
        ("nbytes", set_field("nbytes", 12), [Q, "nbytes"]),
        ("config vs shapes", lambda m: m["config"].update(ffn_dim=40), ["mlp.gate_proj.weight", "shape"]),
        ("config field", lambda m: m["config"].pop("n_heads"), ["config.n_heads"]),
    ]:
        rewrite_meta(good, bad, edit)
        both(what, needles)
    # control: the same rewrite without an edit is accepted, so the edits are what fail
    rewrite_meta(good, bad, lambda m: None)
    check(run([opt.sweep, "eval", bad, tok, "--tokens"]).returncode == 0, "unedited rewrite still evaluates")
    # a llama3 rope_scaling in the metadata: each field checked, naming it
    d = os.path.join(opt.work, "badmodel_llama3_ckpt")
    write_checkpoint(d, llama3_config(), stored(random_state(llama3_config(), 4), "F32")[0])
    good3 = os.path.join(opt.work, "badmodel_llama3.sweep")
    check(run([opt.sweep, "import", d, good3]).returncode == 0, "bad model files: llama3 file imports")

    def rope_edit(**kv):
        def e(m):
            m["config"]["rope_scaling"].update(kv)
        return e

    def rope_drop(key):
        def e(m):
            del m["config"]["rope_scaling"][key]
        return e
    for what, edit, needles in [
        ("rope_scaling not an object", lambda m: m["config"].update(rope_scaling="llama3"), ["config.rope_scaling"]),
        ("rope_scaling unknown type", rope_edit(rope_type="yarn"), ["config.rope_scaling.rope_type"]),
        ("rope_scaling factor missing", rope_drop("factor"), ["config.rope_scaling.factor"]),
        ("rope_scaling factor below 1", rope_edit(factor=0.5), ["rope_scaling.factor"]),
        ("rope_scaling high not above low", rope_edit(high_freq_factor=0.5), ["rope_scaling.high_freq_factor"]),
        ("rope_scaling original context", rope_edit(original_max_position_embeddings=0),
         ["config.rope_scaling.original_max_position_embeddings"]),
    ]:
        rewrite_meta(good3, bad, edit)
        both(what, needles)
    rewrite_meta(good3, bad, lambda m: None)
    check(run([opt.sweep, "eval", bad, tok, "--tokens"]).returncode == 0, "unedited llama3 rewrite still evaluates")
    expect_exit2(opt, "token outside the vocabulary", [opt.sweep, "eval", good, write_tokens(opt, [1, 2, 99]), "--tokens"],
                 ["tokens_bad.i32", "99"])


def write_tokens(opt, toks):
    p = os.path.join(opt.work, "tokens_bad.i32")
    np.asarray(toks, dtype="<i4").tofile(p)
    return p


CASES = {f.__name__[5:]: f for f in [case_llama_f32, case_qwen2_bf16_sharded, case_llama_f16_tied, case_llama3_rope,
                                     case_ternary,
                                     case_eval, case_bad_checkpoint, case_bad_model]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", required=True)
    ap.add_argument("--logits", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("cases", nargs="+", choices=sorted(CASES) + ["all"])
    opt = ap.parse_args()
    opt.work = os.path.join(opt.work, "-".join(opt.cases))
    shutil.rmtree(opt.work, ignore_errors=True)
    os.makedirs(opt.work)
    torch.set_num_threads(1)
    for name, fn in CASES.items():
        if name in opt.cases or "all" in opt.cases:
            fn(opt)
    print(f"hf_import_test {' '.join(opt.cases)}: {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
