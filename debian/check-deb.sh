#!/bin/sh
# Checks a built hotline .deb without installing it: where each file
# lands and with which mode, the conffiles, the packaged unit's paths
# and start policy, and the maintainer scripts.  Run by `make deb-test`.
# Usage: sh debian/check-deb.sh hotline_VERSION_amd64.deb
set -eu

deb=${1:?usage: check-deb.sh PACKAGE.deb}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

bad() {
	echo "check-deb: $*" >&2
	fail=1
}

dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }' > "$tmp/list"

# expect MODE OWNER PATH: one entry of the listing, exactly.
expect() {
	if ! grep -qxF -e "$1 $2 .$3" "$tmp/list"; then
		got=$(grep -F " .$3" "$tmp/list" | grep -E " \.$3/?\$" || true)
		bad "$3: want $1 $2, got ${got:-nothing}"
	fi
}

expect -rwxr-xr-x root/root /usr/sbin/hotlined
expect -rwxr-xr-x root/root /usr/bin/hotlinectl
expect drwx------ root/root /etc/hotline/credentials/
expect -rw-r--r-- root/root /etc/hotline/menu.json
expect -rw-r--r-- root/root /etc/hotline/hotlined.example.json
expect -rw-r--r-- root/root /lib/systemd/system/hotlined.service
expect -rw-r--r-- root/root /usr/share/doc/hotline/README.md
expect -rw-r--r-- root/root /usr/share/doc/hotline/api.md
expect -rw-r--r-- root/root /usr/share/doc/hotline/events.md
expect -rw-r--r-- root/root /usr/share/doc/hotline/copyright

# Nothing of a `make install` layout, and no live config or secret: the
# operator writes those (a shipped hotlined.json would be a conffile the
# package owns, and a shipped key the same key on every install).
if grep -E ' \./usr/local/| \./etc/hotline/hotlined\.json$| \./etc/hotline/credentials/.' \
    "$tmp/list"; then
	bad "files that must not be packaged (above)"
fi

dpkg-deb -e "$deb" "$tmp/control"
for f in /etc/hotline/menu.json /etc/hotline/hotlined.example.json; do
	grep -qxF "$f" "$tmp/control/conffiles" || bad "$f is not a conffile"
done

dpkg-deb --fsys-tarfile "$deb" |
    tar -xOf - ./lib/systemd/system/hotlined.service > "$tmp/unit"
grep -q '^ExecStart=/usr/sbin/hotlined -c /etc/hotline/hotlined.json$' \
    "$tmp/unit" || bad "unit: ExecStart is not /usr/sbin/hotlined"
grep -q '^ExecStartPre=/usr/sbin/hotlined --check-config ' "$tmp/unit" ||
    bad "unit: ExecStartPre is not /usr/sbin/hotlined --check-config"
grep -q '^ConditionPathExists=/etc/hotline/hotlined.json$' "$tmp/unit" ||
    bad "unit: not skipped until configured (ConditionPathExists)"
grep -q '^User=hotline$' "$tmp/unit" || bad "unit: not run as hotline"
if grep -n '/usr/local' "$tmp/unit"; then
	bad "unit: names /usr/local (above)"
fi

# Enabled on install, never started by it.
for s in postinst prerm postrm; do
	[ -f "$tmp/control/$s" ] || { bad "no $s"; continue; }
	sh -n "$tmp/control/$s" || bad "$s: syntax error"
done
grep -q 'deb-systemd-helper.*enable' "$tmp/control/postinst" ||
    bad "postinst does not enable hotlined.service"
if grep -q 'deb-systemd-invoke.*start.*hotlined' "$tmp/control/postinst" &&
    grep 'deb-systemd-invoke' "$tmp/control/postinst" |
    grep -v try-restart | grep -q start; then
	bad "postinst starts hotlined.service on install"
fi
grep -q 'adduser --system' "$tmp/control/postinst" ||
    bad "postinst does not create the hotline system user"
grep -q 'chmod 0700 /etc/hotline/credentials' "$tmp/control/postinst" ||
    bad "postinst does not make /etc/hotline/credentials root-only"
grep -q 'chown hotline:hotline /var/lib/hotline' "$tmp/control/postinst" ||
    bad "postinst does not give /var/lib/hotline to hotline"

[ "$fail" = 0 ] && echo "check-deb: $deb: layout, conffiles, unit and scripts ok"
exit "$fail"
