/*
 * rfc3339: times as people and programs write them, into the form the
 * store keeps ("YYYY-MM-DDTHH:MM:SSZ", UTC, comparable as strings).
 */
#ifndef HOTLINE_RFC3339_H
#define HOTLINE_RFC3339_H

#include <stdbool.h>

#define RFC3339_UTC_SIZE 21

/* "2026-11-29T10:00:00Z" or "2026-11-29T17:00:00+07:00" (a fraction of
 * a second allowed and dropped) into out.  False for anything else: a
 * one-digit field, a 30th of February, a time without its zone. */
bool rfc3339_to_utc(const char *s, char out[RFC3339_UTC_SIZE]);

#endif
