// Hugging Face checkpoints (LlamaForCausalLM, Qwen2ForCausalLM) as a Weights view, and their
// conversion to a model file. HF stores nn.Linear weights as [out][in] and applies RoPE with
// rotate_half on the projections' outputs, which is the engine's own layout: no permutation.
#pragma once
#include <stddef.h>
#include "engine/modelfile.h"
#include "engine/safetensors.h"

typedef struct {
    int context;               // the config's context; 0: min(max_position_embeddings, 256)
    int ignore_rope_scaling;   // drop config.json's rope_scaling, whatever it is: plain RoPE
} HfLoadOptions;

typedef struct {
    ModelConfig cfg;
    char dir[512];
    char arch[64];
    int max_position_embeddings;
    StDtype dtype;             // of the token embedding (the checkpoint's storage type)
    char tokenizer_path[600];  // dir/tokenizer.json when present, else ""
    char rope_scaling[256];    // the ignored rope_scaling as JSON, else ""
    Weights w;                 // bf16/f32 matrices point into the shards; f16 ones and vectors are copies
    int n_shards;
    StFile *shards;
    void **owned;
    int n_owned;
} HfModel;

// Reads dir/config.json and dir/model.safetensors or dir/model.safetensors.index.json with its
// shards. 0 ok; -1 with one line naming the file and the field or tensor in err.
int hf_load(HfModel *m, const char *dir, const HfLoadOptions *o, char *err, size_t errlen);
void hf_free(HfModel *m);

// What a model file records about its HF origin under "source" (malloc'd text).
char *hf_source_text(const HfModel *m);
// The tokenizer reference recorded in the model file (malloc'd JSON), or NULL without tokenizer.json.
char *hf_tokenizer_json(const HfModel *m);
