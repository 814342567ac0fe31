// LD_PRELOAD shim for cluster.slurm: in the rank named by SLOW_RANK (a PMIx rank), the release of its
// first PMIx fence (Open MPI's modex in MPI_Init) is handed to Open MPI SLOW_SECONDS (default 3) late by
// a thread, while the rank keeps running its progress loop: a node descheduled at that moment. MPI_Init
// must still hold every other rank until this one is ready; with Slurm's tree fence it did not, and the
// slow rank crashed on an early MPI message (slurm/README.md, "Many nodes").
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pmix.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

typedef pmix_status_t (*fence_nb_fn)(const pmix_proc_t[], size_t, const pmix_info_t[], size_t, pmix_op_cbfunc_t,
                                     void *);

static pmix_op_cbfunc_t real_cb;
static void *real_cbdata;
static pmix_status_t real_status;
static int calls;

static void *release_later(void *arg) {
    (void)arg;
    const char *s = getenv("SLOW_SECONDS");
    sleep(s ? (unsigned)atoi(s) : 3);
    real_cb(real_status, real_cbdata);
    return NULL;
}

static void hold_release(pmix_status_t status, void *cbdata) {
    (void)cbdata;
    pthread_t t;
    real_status = status;
    pthread_create(&t, NULL, release_later, NULL);
    pthread_detach(t);
}

pmix_status_t PMIx_Fence_nb(const pmix_proc_t procs[], size_t nprocs, const pmix_info_t info[], size_t ninfo,
                            pmix_op_cbfunc_t cbfunc, void *cbdata) {
    fence_nb_fn real = (fence_nb_fn)dlsym(RTLD_NEXT, "PMIx_Fence_nb");
    const char *slow = getenv("SLOW_RANK"), *me = getenv("PMIX_RANK");
    if (calls++ == 0 && slow && me && atoi(slow) == atoi(me)) {
        real_cb = cbfunc;
        real_cbdata = cbdata;
        return real(procs, nprocs, info, ninfo, hold_release, NULL);
    }
    return real(procs, nprocs, info, ninfo, cbfunc, cbdata);
}
