// Writes the fixture sweep's results file through the journal, as rank 0 does, for
// test_readers.py: make_results OUT.h5 (the journal goes to OUT.h5.journal).
#include <unistd.h>
#include "results/h5write.h"
#include "results/journal.h"
#include "fixture_plan.h"

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: make_results OUT.h5\n"); return 2; }
    char jpath[1100], err[512];
    snprintf(jpath, sizeof jpath, "%s.journal", argv[1]);
    unlink(jpath);
    Plan p;
    fixture_plan(&p, 0);
    Journal j;
    if (journal_open(&j, jpath, &p, RESULTS_KEEP_ADAPTER_DEFAULT, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    // completion order is not plan order on a real sweep: append backwards
    for (int k = p.n_jobs - 1; k >= 0; k--) {
        if (fixture_pending(&p, k)) continue;
        JobResult r;
        fixture_result(&p, k, &r, 0.01 * k);
        if (journal_append(&j, &r, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        job_result_free(&r);
    }
    const JobResult **by_job = xcalloc((size_t)p.n_jobs, sizeof *by_job);
    journal_match_plan(&j.c, &p, by_job);
    const char *hashes[2] = {"00112233aabbccdd", "ffeeddccbbaa9988"};
    H5WriteInfo info = {2, hashes, "make_results"};
    int rc = h5_write_results(argv[1], &p, by_job, &info, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    free(by_job);
    journal_close(&j);
    fixture_plan_free(&p);
    return rc ? 1 : 0;
}
