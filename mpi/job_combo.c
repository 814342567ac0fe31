// Combination jobs: when they may run, and the adapter they are evaluated with (mpi/job_combo.h).
#include "mpi/job_combo.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "engine/util.h"
#include "sweeps/combos.h"

int combo_inputs_state(const Plan *p, int j, const JournalContents *jc, char *msg, size_t n) {
    const Job *job = &p->jobs[j];
    size_t len = 0;
    for (int k = 0; k < job->n_inputs; k++) {
        const Job *in = &p->jobs[job->inputs[k]];
        const JobResult *r = journal_find(jc, in->id);
        if (!journal_job_finished(r, p, in)) return COMBO_WAIT;
        const char *user = p->users[in->ax[AX_TRAIN_USER]].name;
        if (r->status != JOB_OK) {
            snprintf(msg, n, "input job %s (user %s) %s: %s", in->id, user, job_status_name(r->status), r->message);
            return COMBO_FAILED;
        }
        if (!r->adapter_n || (k > 0 && r->adapter_n != len)) {
            snprintf(msg, n, "input job %s (user %s) %s", in->id, user, r->adapter_n ? "kept a block of another size"
                     : "kept no adapter (larger than --keep-adapter-max)");
            return COMBO_FAILED;
        }
        len = r->adapter_n;
    }
    return COMBO_READY;
}

void combo_input_record(const Plan *p, int j, const JournalContents *jc, JobResult *out) {
    const Job *job = &p->jobs[j];
    const JobResult *first = journal_find(jc, p->jobs[job->inputs[0]].id);
    memset(out, 0, sizeof *out);
    out->job = j;
    memcpy(out->id, job->id, sizeof out->id);
    out->status = JOB_OK;
    out->attempts = 1;
    out->final_loss = NAN;   // nothing is trained
    out->adapter_n = first->adapter_n;
    out->adapter_ndim = first->adapter_ndim;
    memcpy(out->adapter_shape, first->adapter_shape, sizeof out->adapter_shape);
    out->adapter_bytes_fp32 = first->adapter_bytes_fp32;
    out->adapter_bytes_fp16 = first->adapter_bytes_fp16;
    if (job_combo(p, job)->kind == COMBO_ENSEMBLE) {   // the members' blocks one after the other, input order
        size_t n = first->adapter_n;
        out->adapter_n = (size_t)job->n_inputs * n;
        out->adapter_ndim = 1;
        out->adapter_shape[0] = (int64_t)out->adapter_n;
        out->adapter_bytes_fp32 *= (uint64_t)job->n_inputs;
        out->adapter_bytes_fp16 *= (uint64_t)job->n_inputs;
        out->adapter = xmalloc(out->adapter_n * sizeof(float));
        for (int k = 0; k < job->n_inputs; k++)
            memcpy(out->adapter + (size_t)k * n, journal_find(jc, p->jobs[job->inputs[k]].id)->adapter, n * sizeof(float));
        return;
    }
    out->adapter = xmalloc(out->adapter_n * sizeof(float));
    double *sum = xcalloc(out->adapter_n, sizeof(double));
    for (int k = 0; k < job->n_inputs; k++) {   // input order: the same sum on every run
        const float *a = journal_find(jc, p->jobs[job->inputs[k]].id)->adapter;
        for (size_t i = 0; i < out->adapter_n; i++) sum[i] += a[i];
    }
    for (size_t i = 0; i < out->adapter_n; i++) out->adapter[i] = (float)(sum[i] / job->n_inputs);
    free(sum);
}

void combo_failed_record(const Plan *p, int j, const char *msg, JobResult *out) {
    memset(out, 0, sizeof *out);
    out->job = j;
    memcpy(out->id, p->jobs[j].id, sizeof out->id);
    out->status = JOB_ERROR;
    out->attempts = p->max_attempts > 0 ? p->max_attempts : 1;   // final: rerunning cannot change it
    out->final_loss = NAN;
    snprintf(out->message, sizeof out->message, "%s", msg);
}
