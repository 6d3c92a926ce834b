// SPDX-License-Identifier: GPL-2.0
/*
 * The one place the shmring tracepoints are defined (shmring_trace.h);
 * every other file includes the header only to call them.
 */
#define CREATE_TRACE_POINTS
#include "shmring_trace.h"
