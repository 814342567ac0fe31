// The overfit test: full fine-tuning of a small random model memorises one fixed 256-token sequence
// (mean loss below 0.1), which a broken gradient anywhere in the model would prevent.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "engine/adamw.h"
#include "engine/train.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

enum { SEQ = 256 };

int main(void) {
    engine_set_threads(1);   // the team shares two cores
    ModelConfig c = { .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 128,
                      .vocab = 128, .context = SEQ, .rope_theta = 10000.0, .norm_eps = 1e-5,
                      .tied = 0, .qkv_bias = 0 };
    real *block = xaligned(config_n_params(&c) * sizeof(real));
    weights_init_random(block, &c, 1);
    Weights base;
    weights_carve(&base, &c, block);
    int tokens[SEQ + 1];
    random_tokens(tokens, SEQ + 1, c.vocab, 99);

    Adapter ad;
    CHECK(adapter_init(&ad, FMT_FULL, NULL, &base, 0) == 0, "adapter_init full");
    TrainConfig tc;
    train_config_default(&tc);
    // one window of SEQ + 1 tokens is the whole stream, so every step sees the same sequence
    tc.batch = 1;
    tc.seq = SEQ;
    tc.steps = 80;
    tc.lr = 1e-2;
    tc.warmup = 10;
    tc.cosine = 1;
    tc.min_lr_frac = 0.1;
    float curve[80];
    TrainResult res;
    int rc = train_adapter(&base, &ad, tokens, SEQ + 1, &tc, 5, curve, &res, NULL, NULL);
    CHECK(rc == 0, "train_adapter returned %d", rc);
    CHECK(!res.diverged && res.steps_done == tc.steps, "diverged %d after %d steps", res.diverged, res.steps_done);
    printf("loss: start %.4f (ln vocab %.4f), step 50 %.4f, step 80 %.4f, end %.4f, %.2f s\n",
           curve[0], log(c.vocab), curve[49], curve[79], curve[tc.steps - 1], res.seconds);
    CHECK(fabs(curve[0] - log(c.vocab)) < 0.1, "a small random init starts near uniform: %.4f", curve[0]);
    // train_adapter reports the loss before each step's update: measure the final weights directly
    double ppl = eval_perplexity(&base, &ad, tokens, SEQ + 1, SEQ, 1, NULL, NULL);
    CHECK(log(ppl) < 0.1, "loss on the memorised sequence %.4f, want < 0.1", log(ppl));
    printf("final loss on the sequence %.4f\n", log(ppl));
    adapter_free(&ad);
    free(block);
    return tl_finish("test_overfit");
}
