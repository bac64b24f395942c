/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which tasks took a CPU away from a timed call: the scheduler's
 * sched_switch events on that CPU, recorded by tracefs with the clock
 * CLOCK_MONOTONIC reads ("mono"), so a window measured with
 * clock_gettime() can be matched against them.
 *
 * getrusage() says how often a thread left the CPU; this says for whom and
 * for how long. Root only (tracefs); where it cannot be had, the bench
 * says so and prints its figures without it.
 */
#ifndef ACL_BENCH_SCHED_TRACE_H
#define ACL_BENCH_SCHED_TRACE_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#define SCHED_TRACE_DIR "/sys/kernel/tracing"

static bool sched_trace_put(const char *file, const char *val)
{
	char path[128];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), SCHED_TRACE_DIR "/%s", file);
	f = fopen(path, "w");
	if (!f)
		return false;
	ok = fputs(val, f) >= 0;
	return fclose(f) == 0 && ok;
}

/* Records every switch on CPU @cpu from now on; false (and why) if it cannot. */
static inline bool sched_trace_start(int cpu)
{
	struct stat st;
	char mask[32];

	if (stat(SCHED_TRACE_DIR "/trace", &st) &&
	    mount("nodev", SCHED_TRACE_DIR, "tracefs", 0, NULL)) {
		printf("      (no sched_switch trace: tracefs: %s)\n", strerror(errno));
		return false;
	}
	snprintf(mask, sizeof(mask), "%llx", 1ULL << (cpu & 63));
	if (cpu > 63 || !sched_trace_put("tracing_on", "0") ||
	    !sched_trace_put("trace_clock", "mono") ||
	    !sched_trace_put("buffer_size_kb", "16384") ||
	    !sched_trace_put("tracing_cpumask", mask) || !sched_trace_put("trace", "") ||
	    !sched_trace_put("events/sched/sched_switch/enable", "1") ||
	    !sched_trace_put("tracing_on", "1")) {
		printf("      (no sched_switch trace: cannot set tracefs up: %s)\n",
		       strerror(errno));
		return false;
	}
	return true;
}

static inline void sched_trace_stop(void)
{
	sched_trace_put("tracing_on", "0");
	sched_trace_put("events/sched/sched_switch/enable", "0");
}

/* The value of "@key=" in @line, up to the next space, into @out. */
static void sched_trace_field(const char *line, const char *key, char *out, size_t len)
{
	const char *p = strstr(line, key);
	size_t n = 0;

	if (p)
		for (p += strlen(key); p[n] && p[n] != ' ' && p[n] != '\n' && n + 1 < len; n++)
			out[n] = p[n];
	out[n] = '\0';
}

/*
 * Prints the switches recorded in [@from_ns, @to_ns] (CLOCK_MONOTONIC),
 * each with its time from @from_ns: who left the CPU, in which state
 * (R: preempted, still runnable; S/D: asleep) and who got it.
 */
static inline void sched_trace_print(uint64_t from_ns, uint64_t to_ns)
{
	char line[512], prev[32], state[8], next[32];
	unsigned long sec, usec;
	unsigned int shown = 0;
	uint64_t at;
	FILE *f = fopen(SCHED_TRACE_DIR "/trace", "r");
	const char *p;

	if (!f) {
		printf("      (no sched_switch trace: %s)\n", strerror(errno));
		return;
	}
	printf("      switches on the CPU in that call's window (sched_switch):\n");
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, ": sched_switch:");
		if (!p || line[0] == '#')
			continue;
		while (p > line && p[-1] != ' ')
			p--;
		if (sscanf(p, "%lu.%lu", &sec, &usec) != 2)
			continue;
		at = (uint64_t)sec * 1000000000ULL + (uint64_t)usec * 1000ULL;
		if (at + 1000 < from_ns || at > to_ns + 1000)
			continue;
		sched_trace_field(line, "prev_comm=", prev, sizeof(prev));
		sched_trace_field(line, "prev_state=", state, sizeof(state));
		sched_trace_field(line, "next_comm=", next, sizeof(next));
		printf("        %+9.3f ms  %-16s (%s) -> %s\n",
		       ((double)at - (double)from_ns) / 1e6, prev, state, next);
		shown++;
	}
	if (!shown)
		printf("        none\n");
	fclose(f);
}

#endif
