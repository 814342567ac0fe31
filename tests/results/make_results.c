// Writes the fixture sweep's results file through the journal, as rank 0 does, for test_readers.py.
//   make_results OUT.h5              appends the fixture's records to OUT.h5.journal (made anew), reads
//                                    the journal back from disk and writes OUT.h5 from it
//   make_results --rebuild OUT.h5    writes OUT.h5 from the OUT.h5.journal that is there
//   make_results --backends F.h5     h5_read_results: one line per job, "id<TAB>backend<TAB>peak_rss_bytes<TAB>started"
//   make_results --compare A.h5 B.h5 h5_compare_results: exit 0 equal, 1 different (printed)
#include <string.h>
#include <unistd.h>
#include "results/h5read.h"
#include "results/h5write.h"
#include "results/journal.h"
#include "fixture_plan.h"

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
    if (argc != 2 && !rebuild) {
        fprintf(stderr, "usage: make_results [--rebuild] OUT.h5 | --backends F.h5 | --compare A.h5 B.h5\n");
        return 2;
    }
    const char *out = argv[argc - 1];
    char jpath[1100];
    snprintf(jpath, sizeof jpath, "%s.journal", out);
    Plan p;
    fixture_plan(&p, 0);
    int rc = rebuild ? 0 : append_fixture(jpath, &p);
    if (!rc) rc = write_from_journal(out, jpath, &p);
    fixture_plan_free(&p);
    return rc;
}
