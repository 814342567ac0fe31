// Helper of the MPI tests: the library's own readers, from the command line.
//   results_tool compare A.h5 B.h5   h5_compare_results: exit 0 equal, 1 different (first difference
//                                    printed), 2 error
//   results_tool journal J           one line per result record in file order: "id status attempts",
//                                    then "records N distinct D torn T"
#include <stdio.h>
#include <string.h>
#include "results/h5read.h"
#include "results/journal.h"

static int journal_dump(const char *path) {
    // journal_read keeps only the latest record per id: walk the file to see every record.
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return 2; }
    static unsigned char buf[1 << 26];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    JournalContents all;
    char err[512];
    if (journal_parse(buf, len, &all, err, sizeof err)) { fprintf(stderr, "%s: %s\n", path, err); return 2; }
    size_t off = 0;
    int records = 0;
    while (off + 24 <= all.valid_bytes) {
        uint64_t n;
        uint32_t type;
        memcpy(&type, buf + off + 4, 4);
        memcpy(&n, buf + off + 8, 8);
        if (type == JOURNAL_RESULT_TYPE) {   // result records as written today (older types are not listed)
            JobResult r;
            if (result_decode(buf + off + 24, (size_t)n, &r, err, sizeof err)) {
                fprintf(stderr, "%s: record at %zu: %s\n", path, off, err);
                return 2;
            }
            printf("%s %s %d\n", r.id, job_status_name(r.status), r.attempts);
            job_result_free(&r);
            records++;
        }
        off += 24 + (size_t)n;
    }
    printf("records %d distinct %d torn %zu\n", records, all.n, all.torn_bytes);
    journal_contents_free(&all);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "compare")) {
        char msg[1024] = "";
        int rc = h5_compare_results(argv[2], argv[3], msg, sizeof msg);
        if (rc) printf("%s\n", msg);
        return rc < 0 ? 2 : rc;
    }
    if (argc == 3 && !strcmp(argv[1], "journal")) return journal_dump(argv[2]);
    fprintf(stderr, "usage: results_tool compare A.h5 B.h5 | journal FILE\n");
    return 2;
}
