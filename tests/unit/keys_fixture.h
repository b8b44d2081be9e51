/*
 * keys_fixture: the key store and master key a unit test opens a store
 * with (store.h's encryption at rest): the key store beside the
 * database, a fixed master key.
 */
#ifndef HOTLINE_KEYS_FIXTURE_H
#define HOTLINE_KEYS_FIXTURE_H

#include <limits.h>
#include <stdio.h>

#include "store.h"

static const unsigned char fixture_master[STORE_KEY_SIZE] = {
	0x6b, 0x65, 0x79, 0x73, 0x2d, 0x66, 0x69, 0x78, 0x74, 0x75, 0x72,
	0x65, 0x2d, 0x6d, 0x61, 0x73, 0x74, 0x65, 0x72, 0x2d, 0x6b, 0x65,
	0x79, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
};

/* Keys for the database at db (borrowed until the next call). */
static inline const struct store_keys *
fixture_keys(const char *db)
{
	static char path[PATH_MAX + 256];
	static struct store_keys keys;

	snprintf(path, sizeof(path), "%s.keys", db);
	keys.path = path;
	keys.master = fixture_master;
	return &keys;
}

#endif
