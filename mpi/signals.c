#include "mpi/signals.h"
#include <string.h>

volatile sig_atomic_t stop_requested;
volatile sig_atomic_t stop_signals;

static void on_signal(int sig) {
    stop_requested = sig;
    if (stop_signals < 1000) stop_signals++;
}

void signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}
