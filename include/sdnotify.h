/*
 * sdnotify: the systemd readiness protocol (sd_notify(3)), written out
 * rather than linking libsystemd for one datagram.  A no-op when
 * $NOTIFY_SOCKET is unset, so the daemon runs the same outside systemd.
 */
#ifndef HOTLINE_SDNOTIFY_H
#define HOTLINE_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Send "READY=1", "RELOADING=1", "STOPPING=1", "WATCHDOG=1",
 * "STATUS=..."...  0 (also when there is no socket), or -1 on failure.
 * state is borrowed for the call. */
int sdnotify(const char *state);

/* Is there a service manager to tell ($NOTIFY_SOCKET set)?  Lets a
 * caller skip building a STATUS= line nobody reads. */
bool sdnotify_enabled(void);

/*
 * The watchdog interval the service manager asked for (WatchdogSec=, as
 * $WATCHDOG_USEC), as sd_watchdog_enabled(3) reads it: true with *usec
 * set when this process is to send "WATCHDOG=1" at least that often
 * (half of it, by convention); false when no watchdog is set, the value
 * is malformed, or $WATCHDOG_PID names another process.
 */
bool sdnotify_watchdog_usec(uint64_t *usec);

#endif
