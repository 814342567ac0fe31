// SIGUSR1 (Slurm's warning before walltime or preemption), SIGTERM and SIGINT ask for a graceful
// stop: no new jobs, running ones may finish within the grace period, the file is written. A second
// signal abandons the running jobs at once (Ctrl-C twice).
#pragma once
#include <signal.h>
extern volatile sig_atomic_t stop_requested;   // the signal number, 0 if none
extern volatile sig_atomic_t stop_signals;     // how many such signals arrived
void signals_install(void);
