// Report sections of the adapter catalogue's bets 53, 63, 58 and 48 (results/report_catalogue.c):
// the seeds' stated outcome beside this run where there is one, else "descriptive: no pre-registered
// criterion" and the table. Bets 53 and 63 read the file's eval.variants (results/h5variants.h).
#pragma once
#include "results/report_judge.h"

// protocol: "bet53", "bet63", "bet58", "bet48", "bet54" or "bet55"; adds its section to r.
void judge_catalogue(const ReportData *d, Report *r, const char *protocol);
// Bet 55 (results/report_bet55.c): the ensemble of other users' adapters against the user's own.
void judge_bet55(const ReportData *d, Report *r);
