// Peak memory of one job, from the allocations the engine makes for it (engine/model.c acts_create_chunked,
// engine/adapter.c, engine/adamw.c, engine/mat.c's context cache and scratch, engine/train.c,
// mpi/job_exec.c). The one owner of that arithmetic: `sweep plan` prints it, `sweep run
// --mem-per-node` schedules by it (mpi/memfit.h), bench/memory.py sets it beside measured peaks.
//
// Two parts, because a node holds them differently:
//   job     private to the job's process (its forked child): activations, the adapter with its
//           gradients and AdamW moments, private converted copies of trainable weights (full FT at
//           bf16/int8), the products' scratch, token streams and the result's copy of the adapter.
//           A node's running jobs add up. The job's phases (mpi/job_exec.c), the peak their max:
//             train   parameters, gradients, moments, the step's activations, the token stream
//             change  after adamw_end (moments freed, gradients' pages returned): parameters and
//                     the initial adapter made again (job_max_param_change: parameters + gradients)
//             eval    parameters, one slot of activations with the loss over row chunks, eval tokens
//             result  parameters, the result's fp32 copy and its encoding (only a kept adapter)
//   shared  the mapped base file and its compute-ready forms (engine/matcache.h): page cache, one
//           copy per node whatever the number of ranks and jobs.
// A rank's own process (code, libraries, MPI, tokenizers) is MEMEST_RANK_BYTES on top, once per rank.
#pragma once
#include <stddef.h>
#include "engine/adapter.h"
#include "engine/config.h"
#include "engine/mat.h"

// A rank's own resident memory besides its jobs: the program, OpenBLAS, oneDNN, Open MPI and its
// shared-memory transport, the tokenizer. Measured on the tiny config, where nothing else is large,
// at -np 2: each rank 26-30 MB resident (10-11 MB Pss), a job's forked child 9-11 MB at its peak.
#define MEMEST_RANK_BYTES ((size_t)32 << 20)

typedef struct {
    ModelConfig cfg;
    AdapterFormat format;
    LoraSpec lora;            // FMT_LORA
    int steer_blocks;         // FMT_STEER: vectors trained
    MatPrecision precision;
    int steps, batch, seq;    // training (ignored for FMT_NONE or 0 steps)
    int recompute;            // training recomputes each layer in the backward (TrainConfig.recompute,
                              // sweep run --recompute): one layer's saved activations, not L, and
                              // the loss over row chunks (train_loss_rows)
    MatType head;             // the base's head storage (MAT_REAL stands for any oneDNN multiplies):
                              // whether the loss goes over row chunks (model_loss_rows_at)
    int eval_batch;           // windows per evaluation forward (JOB_EVAL_BATCH), each cfg.context long
    long train_tokens;        // tokens of the training stream the job holds (an upper bound will do)
    long train_text_bytes;    // the training text read to hash and tokenise it
    long eval_tokens;         // tokens of the longest eval text scored
    long eval_text_bytes;
    size_t base_bytes;        // the mapped model file
    size_t ready_bytes;       // its compute-ready forms at this precision (matcache_forms_bytes)
} MemJob;

typedef struct {
    size_t acts_train, acts_eval;   // activation buffers of a training step, of an evaluation forward
    int loss_rows_train, loss_rows_eval;   // rows per loss chunk (0: the whole logits)
    size_t adapter;                 // parameters and gradients
    size_t optimizer;               // AdamW moments
    size_t weight_copies;           // private converted copies (full FT's bf16 copies), 0 otherwise
    size_t scratch;                 // the products' scratch and tile buffers
    size_t tokens_train, tokens_eval;
    size_t result;                  // the result's fp32 copy of the adapter and its encoding (after evaluation)
    size_t phase_train, phase_change, phase_eval, phase_result;   // each phase's private bytes (see above)
    size_t job;                     // private peak: the largest phase
    size_t shared;                  // base_bytes + ready_bytes (per node, not per job)
} MemEstimate;

// Bytes acts_create_chunked(c, B, T, recompute, loss_rows) allocates, with the LoRA buffers of rank r
// (0: none).
size_t memest_acts_bytes(const ModelConfig *c, int B, int T, int lora_rank, int recompute, int loss_rows);
// Bytes of full FT's private bf16 copies: every matrix a product reads (layers' projections and the head).
size_t memest_matrix_params(const ModelConfig *c);
void memest_job(const MemJob *j, MemEstimate *e);
// "1.2 GiB", "340 MiB", "12 KiB": out needs 16 bytes.
void memest_human(size_t bytes, char *out, size_t len);
// "8G", "512M", "1.5G", "4096K", "1073741824" (bytes); suffixes K M G T are powers of 1024. 0 ok, -1 bad.
int memest_parse(const char *s, size_t *bytes);
