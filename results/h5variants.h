// The results file's evaluation-time variants (spec field eval.variants), written beside the metrics
// only when the spec has the field, so files of other specs stay as they were:
//   /variant               dimension scale: the variant labels ("identity", "int8", "noise=0.01", ...)
//   /variant_ppl /variant_nll /variant_n_tokens
//                          float64 over (base, condition, format, train_user, seed, eval_text, variant),
//                          NaN where no cell was asked for or none was recorded yet; [..., 0] is the
//                          identity and equals /ppl /nll /n_tokens
//   /variant_adapter_bytes int64 over (job, variant): the adapter's bytes under each variant (the
//                          int8/int4 wire size: packed integers plus a float32 scale per group; the
//                          fp32 size for identity and noise; 0 for none and for jobs without a record)
// Deterministic like the metrics (h5write.h).
#pragma once
#include <hdf5.h>
#include "results/result.h"
#include "sweeps/plan.h"

// scales: the six axis scales in axis order; job_scale the /job scale; dcpl the dataset creation
// properties and str the UTF-8 string type of the file. 0 ok; -1 with "cannot ..." in err.
int h5_write_variants(hid_t file, const Plan *plan, const JobResult *const *by_job, const hid_t *scales,
                      hid_t job_scale, hid_t dcpl, hid_t str, char *err, size_t errlen);
