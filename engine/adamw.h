// AdamW with bias correction and decoupled weight decay, over an adapter's contiguous block.
#pragma once
#include "engine/adapter.h"

int adamw_alloc(Adapter *a);     // zeroed moments; 0 ok
void adamw_free(Adapter *a);     // the moments, once training is over (adapter_free also frees them)
// Training is over: frees the moments and returns the gradients' whole pages to the system (they
// read as zero again, as after adapter_zero_grad, and cost no memory until written).
void adamw_end(Adapter *a);
// One update at step t (1-based). Returns the global gradient L2 norm before clipping.
double adamw_step(Adapter *a, int t, double lr, double beta1, double beta2, double eps,
                  double weight_decay, double grad_clip);
