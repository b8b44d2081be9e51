/*
 * sdnotify: the systemd readiness protocol (sd_notify(3)), written out
 * rather than linking libsystemd for one datagram.  A no-op when
 * $NOTIFY_SOCKET is unset, so the daemon runs the same outside systemd.
 */
#ifndef HOTLINE_SDNOTIFY_H
#define HOTLINE_SDNOTIFY_H

/* Send "READY=1", "RELOADING=1", "STOPPING=1"...  0, or -1 on failure. */
int sdnotify(const char *state);

#endif
