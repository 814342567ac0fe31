// One seeded generator (xoshiro256**, seeded through splitmix64) for everything random in a job:
// initialisation, batch sampling, random-token corpora. Same seed, same stream, on any machine.
#pragma once
#include <stdint.h>

typedef struct { uint64_t s[4]; } Rng;

void rng_seed(Rng *r, uint64_t seed);
// An independent stream derived from (seed, stream id): e.g. one for init, one for batches.
void rng_seed_stream(Rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(Rng *r);
double rng_uniform(Rng *r);                 // [0, 1)
uint64_t rng_below(Rng *r, uint64_t n);     // [0, n), unbiased
double rng_normal(Rng *r);                  // standard normal
