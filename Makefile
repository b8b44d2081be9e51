# hotline gateway: make run | make test | make bench | make install
#
# Every target that compiles first runs `deps`, which installs the Debian
# packages whose headers or tools are missing (and nothing when all are
# present), so a fresh machine needs only `make run` and `make test`.

CC      ?= cc
PREFIX  ?= /usr/local
BUILD   := build

PKGS    := libevent jansson libcurl libutf8proc sqlite3 libcrypto
WARN    := -std=c17 -Wall -Wextra -Werror -Wformat=2 -Wshadow \
           -Wstrict-prototypes -Wmissing-prototypes -Wwrite-strings \
           -Wno-missing-field-initializers
# Recursive (=): pkg-config runs when a recipe does, after `deps`.
BASEFLAGS = $(WARN) -D_DEFAULT_SOURCE -Iinclude \
           $(shell pkg-config --cflags $(PKGS))
LIBS     = $(shell pkg-config --libs $(PKGS)) -lm -pthread

# Release: hardened, optimised.
CFLAGS_REL = $(BASEFLAGS) -O2 -g -D_FORTIFY_SOURCE=2 \
             -fstack-protector-strong -fPIE
LDFLAGS_REL = -pie -Wl,-z,relro,-z,now

# Tests: the same code under AddressSanitizer and UBSan.
SAN       = -fsanitize=address,undefined -fno-sanitize-recover=all
CFLAGS_SAN = $(BASEFLAGS) -O1 -g -fno-omit-frame-pointer $(SAN)
LDFLAGS_SAN = $(SAN)

# Modules shared by the daemon, the CLI and the unit tests.
MODULES := $(filter-out daemon/hotlined.c daemon/hotlinectl.c, \
             $(wildcard daemon/*.c))
HEADERS := $(wildcard include/*.h daemon/*.h)

# The web console's files, compiled into the daemon.
CONSOLE_FILES := $(wildcard console/*.html console/*.css console/*.js)

REL_OBJS := $(MODULES:daemon/%.c=$(BUILD)/rel/%.o) \
            $(BUILD)/rel/console_assets.o
SAN_OBJS := $(MODULES:daemon/%.c=$(BUILD)/san/%.o) \
            $(BUILD)/san/console_assets.o

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/san/%)

# An LD_PRELOAD library whose fsync and fdatasync sleep first: a slow
# disk for the write-path test and the bench (tests/shim/slowfsync.c).
SLOWFSYNC := $(BUILD)/slowfsync.so

.PHONY: all run test unit integration bench install clean deps check-config \
        fuzz fuzz-test check-rules

all: deps $(BUILD)/hotlined $(BUILD)/hotlinectl

# Debian packages by the file that proves each is installed.
DEPS := \
  /usr/include/event2/http.h:libevent-dev \
  /usr/include/jansson.h:libjansson-dev \
  /usr/include/x86_64-linux-gnu/curl/curl.h:libcurl4-openssl-dev \
  /usr/include/openssl/hmac.h:libssl-dev \
  /usr/include/utf8proc.h:libutf8proc-dev \
  /usr/include/sqlite3.h:libsqlite3-dev \
  /usr/include/cmocka.h:libcmocka-dev \
  /usr/bin/pkg-config:pkg-config \
  /usr/bin/sqlite3:sqlite3 \
  /usr/bin/python3:python3 \
  /usr/lib/python3/dist-packages/cryptography/__init__.py:python3-cryptography \
  /usr/bin/cc:gcc \
  /usr/bin/clang:clang \
  /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a:libclang-rt-14-dev

deps:
	@missing=""; for d in $(DEPS); do \
	  f=$${d%%:*}; p=$${d##*:}; \
	  if [ ! -e "$$f" ]; then \
	    case "$$f" in */curl.h) ls /usr/include/*/curl/curl.h >/dev/null 2>&1 && continue;; esac; \
	    missing="$$missing $$p"; fi; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/rel/%.o: daemon/%.c $(HEADERS) Makefile | $(BUILD)/rel
	$(CC) $(CFLAGS_REL) -c -o $@ $<

$(BUILD)/san/%.o: daemon/%.c $(HEADERS) Makefile | $(BUILD)/san
	$(CC) $(CFLAGS_SAN) -c -o $@ $<

$(BUILD)/console_assets.c: $(CONSOLE_FILES) tools/embed_console.py | $(BUILD)/rel
	python3 tools/embed_console.py $@ $(CONSOLE_FILES)

$(BUILD)/rel/console_assets.o: $(BUILD)/console_assets.c include/console.h
	$(CC) $(CFLAGS_REL) -c -o $@ $<

$(BUILD)/san/console_assets.o: $(BUILD)/console_assets.c include/console.h | $(BUILD)/san
	$(CC) $(CFLAGS_SAN) -c -o $@ $<

$(BUILD)/hotlined: $(BUILD)/rel/hotlined.o $(REL_OBJS)
	$(CC) $(LDFLAGS_REL) -o $@ $^ $(LIBS)

$(BUILD)/hotlinectl: $(BUILD)/rel/hotlinectl.o $(REL_OBJS)
	$(CC) $(LDFLAGS_REL) -o $@ $^ $(LIBS)

$(BUILD)/san/hotlined: $(BUILD)/san/hotlined.o $(SAN_OBJS)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LIBS)

$(BUILD)/san/hotlinectl: $(BUILD)/san/hotlinectl.o $(SAN_OBJS)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LIBS)

$(BUILD)/san/test_%: tests/unit/test_%.c $(SAN_OBJS) $(HEADERS) \
    $(wildcard tests/unit/*.h) | $(BUILD)/san
	$(CC) $(CFLAGS_SAN) -Wno-missing-prototypes -o $@ $< $(SAN_OBJS) \
	  $(LDFLAGS_SAN) $(LIBS) -lcmocka

# Every compile waits for `deps`, also under make -j.
$(BUILD)/rel $(BUILD)/san: | deps
	mkdir -p $@

# The shipped config reads its pseudonym key from var/pseudonym.key; a
# development checkout makes a random one on first use.
var/pseudonym.key:
	mkdir -p -m 700 var
	umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > $@

# Likewise the master key of encryption at rest (privacy.data_key): 32
# random bytes as hex.  Lose it and var/hotline.db is unreadable.
var/data.key:
	mkdir -p -m 700 var
	umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > $@

run: all var/pseudonym.key var/data.key
	./$(BUILD)/hotlined -c config/hotlined.json

check-config: all var/pseudonym.key var/data.key
	./$(BUILD)/hotlined --check-config -c config/hotlined.json

# Prometheus's promtool checks /metrics (tests/integration/test_metrics.py)
# and the alert rules.  It comes from Debian's `prometheus` package, whose
# installing also starts a Prometheus server (and makes its user and
# database): so only promtool is taken out of the package, as apt-get
# downloads it, into build/; an installed promtool is used as it is.
PROMTOOL ?= $(or $(shell command -v promtool 2>/dev/null),$(BUILD)/tools/promtool)

$(BUILD)/tools/promtool:
	mkdir -p $(BUILD)/tools/deb
	cd $(BUILD)/tools/deb && { apt-get download prometheus 2>/dev/null || \
	  { if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	    $$SUDO apt-get update -qq && apt-get download prometheus; }; }
	dpkg-deb --fsys-tarfile $(BUILD)/tools/deb/prometheus_*.deb | \
	  tar -xO ./usr/bin/promtool > $@.tmp
	chmod 755 $@.tmp && mv $@.tmp $@ && rm -rf $(BUILD)/tools/deb
	$@ --version

check-rules: $(PROMTOOL)
	$(PROMTOOL) check rules contrib/prometheus/hotline-rules.yml
	$(PROMTOOL) test rules contrib/prometheus/hotline-rules.test.yml

# Unit tests, then integration tests against the real (sanitized) daemon.
test: deps $(UNIT_BINS) $(BUILD)/san/hotlined $(BUILD)/san/hotlinectl $(PROMTOOL)
	@$(MAKE) --no-print-directory unit integration check-rules
	@$(MAKE) --no-print-directory deb-test
	@$(MAKE) --no-print-directory browser-test
	@$(MAKE) --no-print-directory fuzz-test

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
	  echo "== $$t"; timeout 120 $$t || fail=1; \
	done; exit $$fail

integration: $(BUILD)/san/hotlined $(BUILD)/san/hotlinectl $(SLOWFSYNC) $(PROMTOOL)
	HOTLINED=$(BUILD)/san/hotlined HOTLINECTL=$(BUILD)/san/hotlinectl \
	  PROMTOOL=$(PROMTOOL) timeout 900 python3 tests/integration/run.py

# A slow disk for the write-path test and the bench (SLOWFSYNC, above).
$(SLOWFSYNC): tests/shim/slowfsync.c Makefile | deps
	mkdir -p $(BUILD)
	$(CC) $(WARN) -O2 -g -fPIC -shared -o $@ $< -ldl

# The web console in a real browser: Debian's headless Chromium driven by
# playwright-core (pinned in tests/browser/package-lock.json) against the
# sanitized daemon.  Installs Chromium, Node and npm from Debian, and
# playwright-core from npm, when missing.  Screenshot: tests/output/.
.PHONY: browser-test
CHROMIUM    := /usr/bin/chromium
BROWSER_DIR := tests/browser

browser-test: $(BUILD)/san/hotlined $(BUILD)/san/hotlinectl
	@missing=""; \
	[ -x $(CHROMIUM) ] || missing="$$missing chromium"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@[ -d $(BROWSER_DIR)/node_modules/playwright-core ] || \
	  (cd $(BROWSER_DIR) && npm ci --no-audit --no-fund)
	HOTLINED=$(BUILD)/san/hotlined HOTLINECTL=$(BUILD)/san/hotlinectl \
	  CHROMIUM=$(CHROMIUM) timeout 600 python3 $(BROWSER_DIR)/run_console_test.py

# libFuzzer targets (tests/fuzz/README.md): the parsers of everything
# that comes from outside, built by clang with ASan and UBSan against
# the daemon's modules compiled by clang into their own directory.
# `make fuzz` runs each for FUZZ_SECONDS; `make test` replays every
# saved crash (tests/fuzz/regressions/<target>/) and fuzzes each target
# for FUZZ_TEST_SECONDS.  New inputs go to build/fuzz/corpus/<target>/,
# crashes to build/fuzz/crashes/<target>/; the checked-in seeds in
# tests/fuzz/corpus/<target>/ are only read.
FUZZ_CC           := clang
FUZZ_SECONDS      ?= 120
FUZZ_TEST_SECONDS ?= 4
FUZZ_SAN    = -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS = $(BASEFLAGS) -O1 -g -fno-omit-frame-pointer \
              -fsanitize=fuzzer-no-link $(FUZZ_SAN)
FUZZ_PROVIDERS := africastalking console esms json twilio vcom vonage
FUZZ_PLAIN     := form phone smstext rfc3339 menu menu_walk config api \
                  webhook
FUZZ_TARGETS   := $(FUZZ_PLAIN) $(FUZZ_PROVIDERS:%=provider_%)
FUZZ_BINS      := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_OBJS      := $(MODULES:daemon/%.c=$(BUILD)/fuzz/%.o) \
                  $(BUILD)/fuzz/console_assets.o
# The harnesses' shared helpers, also as an archive.
FUZZ_COMMON    := $(BUILD)/fuzz/libfuzzhelp.a
FUZZ_HELP_SRCS := tests/fuzz/fuzz.c tests/fuzz/menu_walk.c \
                  tests/fuzz/http_stub.c
FUZZ_HDRS      := $(wildcard tests/fuzz/*.h)

# The module objects as an archive: each target links only the modules
# it reaches, and the API's target its own stand-in for http.c.
$(BUILD)/fuzz/libhotline.a: $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/%.o: daemon/%.c $(HEADERS) Makefile | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_EXTRA) -c -o $@ $<

# eSMS's signature check ORs two bools on purpose (both comparisons
# run, in constant time); clang 14 warns about that form.

$(BUILD)/fuzz/console_assets.o: $(BUILD)/console_assets.c include/console.h | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(BUILD)/fuzz/help_%.o: tests/fuzz/%.c $(FUZZ_HDRS) $(HEADERS) | $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itests/fuzz -c -o $@ $<

$(FUZZ_COMMON): $(FUZZ_HELP_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/help_%.o)
	rm -f $@ && ar rcs $@ $^

FUZZ_LINK = $(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN)

$(BUILD)/fuzz/fuzz_provider_%: tests/fuzz/fuzz_provider.c $(FUZZ_HDRS) $(FUZZ_COMMON) $(BUILD)/fuzz/libhotline.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itests/fuzz -DFUZZ_PROVIDER=provider_$* \
	  -c -o $@.o $<
	$(FUZZ_LINK) -o $@ $@.o $(FUZZ_COMMON) $(BUILD)/fuzz/libhotline.a $(LIBS)

# http.c's stand-in goes on the line before the modules, so the
# archive's http.o is never pulled in.
$(BUILD)/fuzz/fuzz_api $(BUILD)/fuzz/fuzz_webhook: $(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HDRS) $(FUZZ_COMMON) $(BUILD)/fuzz/libhotline.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itests/fuzz \
	  -DFUZZ_MENU_PATH='"$(CURDIR)/config/menu.json"' -c -o $@.o $<
	$(FUZZ_LINK) -o $@ $@.o $(BUILD)/fuzz/help_http_stub.o \
	  $(FUZZ_COMMON) $(BUILD)/fuzz/libhotline.a $(LIBS)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HDRS) $(FUZZ_COMMON) $(BUILD)/fuzz/libhotline.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itests/fuzz \
	  -DFUZZ_MENU_PATH='"$(CURDIR)/config/menu.json"' -c -o $@.o $<
	$(FUZZ_LINK) -o $@ $@.o $(FUZZ_COMMON) $(BUILD)/fuzz/libhotline.a $(LIBS)

$(BUILD)/fuzz: | deps
	mkdir -p $@

# Fuzz every target for FUZZ_SECONDS (make fuzz FUZZ_SECONDS=3600).
fuzz: $(FUZZ_BINS)
	@FUZZ_BUILD=$(BUILD)/fuzz sh tests/fuzz/run.sh fuzz $(FUZZ_SECONDS) \
	  $(FUZZ_TARGETS)

# Replay the saved crashes, then a short run of each target.
fuzz-test: $(FUZZ_BINS)
	@FUZZ_BUILD=$(BUILD)/fuzz sh tests/fuzz/run.sh test \
	  $(FUZZ_TEST_SECONDS) $(FUZZ_TARGETS)

$(BUILD)/bench-bare: tests/bench/bare.c | $(BUILD)/rel
	$(CC) $(CFLAGS_REL) $(LDFLAGS_REL) -o $@ $< $(LIBS)

# The outbox's loopback sink (tests/bench/sink.c).
$(BUILD)/bench-sink: tests/bench/sink.c | $(BUILD)/rel
	$(CC) $(CFLAGS_REL) $(LDFLAGS_REL) -o $@ $< $(LIBS)

bench: all $(BUILD)/bench-bare $(BUILD)/bench-sink $(SLOWFSYNC)
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  $$SUDO apt-get install -y -qq --no-install-recommends wrk; }
	python3 tests/bench/bench.py

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/hotline \
	  $(DESTDIR)$(PREFIX)/share/doc/hotline $(DESTDIR)/lib/systemd/system
	install -d -m 700 $(DESTDIR)/etc/hotline/credentials
	install -m 755 $(BUILD)/hotlined $(BUILD)/hotlinectl $(DESTDIR)$(PREFIX)/bin/
	install -m 644 config/menu.json config/hotlined.example.json \
	  $(DESTDIR)/etc/hotline/
	install -m 644 README.md $(DESTDIR)$(PREFIX)/share/doc/hotline/
	install -m 644 systemd/hotlined.service $(DESTDIR)/lib/systemd/system/
	if [ -z "$(DESTDIR)" ] && ! id hotline >/dev/null 2>&1; then \
	  useradd --system --home-dir /var/lib/hotline --no-create-home \
	    --shell /usr/sbin/nologin hotline; fi

# The Debian package (debian/): `make deb` builds hotline_VERSION_amd64.deb
# here with debhelper, from a copy of the tree in build/deb/ so that
# dpkg-buildpackage writes nothing outside it; `make deb-test` runs
# lintian on it (any E: fails) and checks its layout (debian/check-deb.sh).
# The packaging tools are installed when missing, like DEPS above.
.PHONY: deb deb-deps deb-test
DEB_VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
DEB         := hotline_$(DEB_VERSION)_amd64.deb
DEB_DEPS := \
  /usr/bin/dh:debhelper \
  /usr/bin/dpkg-buildpackage:dpkg-dev \
  /usr/bin/fakeroot:fakeroot \
  /usr/bin/lintian:lintian

deb-deps:
	@missing=""; for d in $(DEB_DEPS); do \
	  [ -e "$${d%%:*}" ] || missing="$$missing $${d##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

deb: deps deb-deps
	rm -rf $(BUILD)/deb
	mkdir -p $(BUILD)/deb/hotline-$(DEB_VERSION)
	tar -cf - --exclude=./.git --exclude=./build --exclude='./build-*' \
	  --exclude=./var --exclude=./tests/output --exclude=node_modules \
	  --exclude='./hotline_*' --exclude=__pycache__ . | \
	  tar -xf - -C $(BUILD)/deb/hotline-$(DEB_VERSION)
	cd $(BUILD)/deb/hotline-$(DEB_VERSION) && \
	  dpkg-buildpackage -b -us -uc -jauto
	cp $(BUILD)/deb/$(DEB) $(DEB)
	@echo "built $(DEB)"

deb-test: deb
	lintian --fail-on error --tag-display-limit 0 $(DEB)
	sh debian/check-deb.sh $(DEB)

clean:
	rm -rf $(BUILD)
