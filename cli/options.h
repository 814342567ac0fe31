// Option values of every subcommand, parsed one way: the whole string a whole number or a real number
// within a range. Each returns 0, or -1 with one line in err: "OPT: 'S' is not an integer in [LO, HI]",
// "OPT: 'S' is not a number in (LO, HI]", or "OPT: needs a value" when s is NULL. The caller prints
// it after "sweep CMD: " (opt_bad) and exits 2.
#pragma once
#include <stddef.h>

int opt_long(const char *opt, const char *s, long lo, long hi, long *out, char *err, size_t errlen);
int opt_int(const char *opt, const char *s, int lo, int hi, int *out, char *err, size_t errlen);
// lo_open: lo itself is excluded. Never NaN or infinite.
int opt_real(const char *opt, const char *s, double lo, double hi, int lo_open, double *out, char *err,
             size_t errlen);
// Prints "sweep CMD: MSG" on stderr and returns 2, the exit status of bad input.
int opt_bad(const char *cmd, const char *msg);

// A value of hyperparameter hp (sweeps/hparams.h) in the table's range and type, as a spec would take
// it; precision as a name. opt names the option in the message.
int opt_hp(const char *opt, const char *s, int hp, double *out, char *err, size_t errlen);
