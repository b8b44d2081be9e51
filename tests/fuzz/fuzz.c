/* fuzz: the helpers the targets share (see fuzz.h). */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

void
fuzz_request_parse(struct fuzz_request *r, const uint8_t *data, size_t size)
{
	const uint8_t *blank = NULL;
	size_t hlen = 0, i;
	char *line, *end;

	memset(r, 0, sizeof(*r));
	for (i = 0; i + 1 < size; i++)
		if (data[i] == '\n' && data[i + 1] == '\n') {
			blank = data + i;
			break;
		}
	if (blank != NULL)
		hlen = (size_t)(blank - data);
	/* Headers and body in buffers of their exact size, so that ASan
	 * sees a read past either. */
	if ((r->storage = malloc(hlen + 1)) == NULL)
		abort();
	memcpy(r->storage, data, hlen);
	r->storage[hlen] = '\0';
	r->body_len = blank ? size - hlen - 2 : size;
	if ((r->body = malloc(r->body_len + 1)) == NULL)
		abort();
	memcpy(r->body, blank ? blank + 2 : data, r->body_len);
	r->body[r->body_len] = '\0';
	for (line = r->storage; blank && line < r->storage + hlen;
	    line = end + 1) {
		char *colon, *v;

		if ((end = strchr(line, '\n')) == NULL)
			end = line + strlen(line);
		*end = '\0';
		/* ":name: value" or "Name: value" */
		colon = strchr(line[0] == ':' ? line + 1 : line, ':');
		if (colon != NULL && r->count < FUZZ_MAX_HEADERS) {
			*colon = '\0';
			for (v = colon + 1; *v == ' '; v++)
				;
			r->names[r->count] = line;
			r->values[r->count++] = v;
		}
		if (end >= r->storage + hlen)
			break;
	}
}

void
fuzz_request_clear(struct fuzz_request *r)
{
	free(r->storage);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

const char *
fuzz_request_get(const struct fuzz_request *r, const char *name)
{
	for (size_t i = 0; i < r->count; i++)
		if (strcasecmp(r->names[i], name) == 0)
			return r->values[i];
	return NULL;
}

const char *
fuzz_request_header(const void *ctx, const char *name)
{
	/* The harness's own lines are not headers. */
	if (name[0] == ':')
		return NULL;
	return fuzz_request_get(ctx, name);
}

bool
fuzz_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], n, min, cp;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			min = 0x80;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			min = 0x800;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			min = 0x10000;
			cp = c & 0x07;
		} else
			return false;
		if (len - i <= n)
			return false;
		for (unsigned k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz: property violated: %s\n", what);
	abort();
}

void
fuzz_check_terminated(const char *what, const char *buf, size_t size)
{
	if (memchr(buf, '\0', size) == NULL) {
		fprintf(stderr, "fuzz: %s: no NUL within its %zu bytes\n",
		    what, size);
		abort();
	}
}

void
fuzz_check_text(const char *what, const char *buf, size_t size)
{
	fuzz_check_terminated(what, buf, size);
	if (!fuzz_utf8_valid(buf, strlen(buf))) {
		fprintf(stderr, "fuzz: %s: not valid UTF-8\n", what);
		abort();
	}
}

static bool
contains(const uint8_t *hay, size_t size, const char *needle, size_t n)
{
	for (size_t j = 0; j + n <= size; j++)
		if (memcmp(hay + j, needle, n) == 0)
			return true;
	return false;
}

bool
fuzz_quotes_digits_except(const char *s, const uint8_t *data, size_t size,
    size_t n, const uint8_t *allowed, size_t allowed_size)
{
	size_t i = 0, run;

	while (s[i] != '\0') {
		if (s[i] < '0' || s[i] > '9') {
			i++;
			continue;
		}
		for (run = 0; s[i + run] >= '0' && s[i + run] <= '9'; run++)
			;
		/* Any n digits of the run found in the input. */
		for (size_t k = 0; run >= n && k + n <= run; k++)
			if (contains(data, size, s + i + k, n) &&
			    (allowed == NULL || !contains(allowed,
			    allowed_size, s + i + k, n)))
				return true;
		i += run;
	}
	return false;
}

bool
fuzz_quotes_digits(const char *s, const uint8_t *data, size_t size, size_t n)
{
	return fuzz_quotes_digits_except(s, data, size, n, NULL, 0);
}

void
fuzz_quiet_log(void)
{
	static FILE *null;

	if (null == NULL && (null = fopen("/dev/null", "w")) == NULL)
		abort();
	log_init(null, LOG_ERROR);
}

static void
remove_tree(const char *dir)
{
	char path[512];
	struct dirent *e;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static char scratch[256];

static void
scratch_remove(void)
{
	if (scratch[0] != '\0')
		remove_tree(scratch);
}

void
fuzz_scratch_dir(const char *name, char *out, size_t outlen)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
	    "/tmp";
	char prefix[128], path[512], *end;
	struct dirent *e;
	long pid;
	DIR *d;

	snprintf(prefix, sizeof(prefix), "hotline-fuzz-%s.", name);
	if ((d = opendir(base)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
				continue;
			pid = strtol(e->d_name + strlen(prefix), &end, 10);
			if (*end != '\0' || pid <= 0 ||
			    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
				continue;
			snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
			remove_tree(path);
		}
		closedir(d);
	}
	snprintf(scratch, sizeof(scratch), "%s/%s%ld", base, prefix,
	    (long)getpid());
	if (mkdir(scratch, 0700) != 0 && errno != EEXIST) {
		perror(scratch);
		abort();
	}
	atexit(scratch_remove);
	snprintf(out, outlen, "%s", scratch);
}
