// Writes the fixture sweep's results file through the journal, as rank 0 does, for test_readers.py.
//   make_results OUT.h5              appends the fixture's records to OUT.h5.journal (made anew), reads
//                                    the journal back from disk and writes OUT.h5 from it
//   make_results --rebuild OUT.h5    writes OUT.h5 from the OUT.h5.journal that is there
//   make_results --backends F.h5     h5_read_results: one line per job, "id<TAB>backend<TAB>peak_rss_bytes<TAB>started"
//   make_results --compare A.h5 B.h5 h5_compare_results: exit 0 equal, 1 different (printed)
//   make_results --variants OUT.h5   as the first, with eval.variants identity, int8, noise=0.1: each
//                                    variant v's cell is the identity's ppl + 0.001 v (nll its log,
//                                    n_tokens the same) and its bytes are 1000 v + the format's index
#include <math.h>
#include <string.h>
#include <unistd.h>
#include "results/h5read.h"
#include "results/h5write.h"
#include "results/journal.h"
#include "sweeps/variants.h"
#include "fixture_plan.h"

static void variant_plan(Plan *p) {
    static const char *const labels[3] = {"identity", "int8", "noise=0.1"};
    p->n_variants = 3;
    p->variants = xcalloc(3, sizeof *p->variants);
    for (int v = 0; v < 3; v++) snprintf(p->variants[v].label, sizeof p->variants[v].label, "%s", labels[v]);
    p->variants[1].kind = VARIANT_QUANT;
    p->variants[1].bits = 8;
    p->variants[2].kind = VARIANT_NOISE;
    p->variants[2].sigma = 0.1;
}

// The variants' cells after the identity's, in the order job_exec writes them.
static void add_variant_cells(const Plan *p, int j, JobResult *r) {
    int ne = r->n_evals, nv = variant_count(p);
    if (nv < 2 || !ne) return;
    r->evals = realloc(r->evals, (size_t)(ne + (nv - 1) * (ne + 1)) * sizeof(EvalCell));
    for (int v = 1; v < nv; v++) {
        EvalCell *b = &r->evals[r->n_evals++];
        variant_cell_label(b->eval, sizeof b->eval, p, v, "");
        b->ppl = b->nll = NAN;
        b->n_tokens = 1000 * v + p->jobs[j].ax[AX_FORMAT];
        for (int e = 0; e < ne; e++) {
            EvalCell *c = &r->evals[r->n_evals++];
            *c = r->evals[e];
            variant_cell_label(c->eval, sizeof c->eval, p, v, r->evals[e].eval);
            c->ppl = r->evals[e].ppl + 0.001 * v;
            c->nll = log(c->ppl);
        }
    }
}

static int append_fixture(const char *jpath, const Plan *p) {
    char err[512];
    unlink(jpath);
    Journal j;
    if (journal_open(&j, jpath, p, RESULTS_KEEP_ADAPTER_DEFAULT, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    // completion order is not plan order on a real sweep: append backwards
    for (int k = p->n_jobs - 1; k >= 0; k--) {
        if (fixture_pending(p, k)) continue;
        JobResult r;
        fixture_result(p, k, &r, 0.01 * k);
        add_variant_cells(p, k, &r);
        int rc = journal_append(&j, &r, err, sizeof err);
        job_result_free(&r);
        if (rc) { fprintf(stderr, "%s\n", err); journal_close(&j); return 1; }
    }
    journal_close(&j);
    return 0;
}

// The file from the journal's bytes on disk, so that every field has been through decoding.
static int write_from_journal(const char *out, const char *jpath, const Plan *p) {
    char err[512];
    JournalContents c;
    if (journal_read(jpath, &c, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    const JobResult **by_job = xcalloc((size_t)p->n_jobs, sizeof *by_job);
    journal_match_plan(&c, p, by_job);
    const char *hashes[2] = {"00112233aabbccdd", "ffeeddccbbaa9988"};
    H5WriteInfo info = {.n_base_hashes = 2, .base_hashes = hashes, .created_by = "make_results"};
    int rc = h5_write_results(out, p, by_job, &info, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    free(by_job);
    journal_contents_free(&c);
    return rc ? 1 : 0;
}

static int print_backends(const char *path) {
    ResultsFile rf;
    char err[512];
    if (h5_read_results(path, &rf, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    for (int j = 0; j < rf.n_jobs; j++)
        printf("%s\t%s\t%llu\t%.3f\n", rf.jobs[j].id, rf.jobs[j].backend, (unsigned long long)rf.jobs[j].peak_rss_bytes,
               rf.jobs[j].started);
    results_file_free(&rf);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--backends")) return print_backends(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "--compare")) {
        char msg[1024] = "";
        int rc = h5_compare_results(argv[2], argv[3], msg, sizeof msg);
        if (rc) printf("%s\n", msg);
        return rc < 0 ? 2 : rc;
    }
    int rebuild = argc == 3 && !strcmp(argv[1], "--rebuild");
    int variants = argc == 3 && !strcmp(argv[1], "--variants");
    if (argc != 2 && !rebuild && !variants) {
        fprintf(stderr, "usage: make_results [--rebuild | --variants] OUT.h5 | --backends F.h5 | --compare A.h5 B.h5\n");
        return 2;
    }
    const char *out = argv[argc - 1];
    char jpath[1100];
    snprintf(jpath, sizeof jpath, "%s.journal", out);
    Plan p;
    fixture_plan(&p, 0);
    if (variants) variant_plan(&p);
    int rc = rebuild ? 0 : append_fixture(jpath, &p);
    if (!rc) rc = write_from_journal(out, jpath, &p);
    free(p.variants);
    p.variants = NULL;
    fixture_plan_free(&p);
    return rc;
}
