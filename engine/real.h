// The engine's scalar type: float in the product, double in the finite-difference build (engine64).
#pragma once
#ifndef SWEEP_REAL
#define SWEEP_REAL float
#endif
typedef SWEEP_REAL real;
#define REAL_IS_FLOAT (sizeof(real) == sizeof(float))
