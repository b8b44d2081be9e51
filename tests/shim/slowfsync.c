/*
 * slowfsync: an LD_PRELOAD library that makes the disk slow, for the
 * write-path test and the bench (issue #10).  fsync and fdatasync sleep
 * SLOWFSYNC_SECONDS (default 1.5) before the real call, so a commit
 * takes that long while everything that does not need the disk should
 * go on.  When SLOWFSYNC_LOG names a file, each call appends a line
 * "START END\n": CLOCK_MONOTONIC seconds (the clock of Python's
 * time.monotonic() on Linux) at entry and after the real call, so a test
 * can tell which fsync a reply waited for.
 *
 * Under ASan the daemon also needs ASAN_OPTIONS=verify_asan_link_order=0,
 * as this library comes before the ASan runtime in the link order.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef int (*sync_fn)(int);

int fsync(int fd);
int fdatasync(int fd);

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
slow_down(void)
{
	const char *env = getenv("SLOWFSYNC_SECONDS");
	double seconds = 1.5;
	struct timespec ts;
	char *end;

	if (env != NULL && *env != '\0') {
		double v = strtod(env, &end);

		if (*end == '\0' && v >= 0 && v < 3600)
			seconds = v;
	}
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One write() per line on an O_APPEND descriptor: lines from threads
 * (and processes) sharing the file never interleave. */
static void
record(double start, double end)
{
	const char *path = getenv("SLOWFSYNC_LOG");
	char line[64];
	int fd, n, saved = errno;

	if (path == NULL || *path == '\0')
		return;
	n = snprintf(line, sizeof(line), "%.6f %.6f\n", start, end);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		(void)!write(fd, line, (size_t)n);
		close(fd);
	}
	errno = saved;
}

static int
slow_call(const char *name, int fd)
{
	sync_fn real = (sync_fn)dlsym(RTLD_NEXT, name);
	double start = now();
	int rc;

	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	slow_down();
	rc = real(fd);
	record(start, now());
	return rc;
}

int
fsync(int fd)
{
	return slow_call("fsync", fd);
}

int
fdatasync(int fd)
{
	return slow_call("fdatasync", fd);
}
