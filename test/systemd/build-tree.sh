#!/bin/sh
# Build (once) a Debian bookworm minbase tree that boots systemd under systemd-nspawn.
#
#   test/systemd/build-tree.sh [DEST]     default DEST: /var/cache/ai-proxy-test/bookworm-systemd
#
# The tree is built in DEST.partial and renamed to DEST only when complete, and a marker file
# (DEST/.ai-proxy-tree-ok) is written last: a tree without the marker is half-built and is
# rebuilt. Installs debootstrap and systemd-container with apt-get when they are missing (the
# test needs systemd-nspawn even when the tree is cached).
# Uses the Debian mirror the host's apt already uses, so it works wherever apt works.
set -eu

DEST=${1:-/var/cache/ai-proxy-test/bookworm-systemd}
SUITE=bookworm
MARKER=.ai-proxy-tree-ok
# Bump when the list of packages or the tree set-up changes: an older tree is then rebuilt.
TREE_VERSION=1
INCLUDE=systemd,systemd-sysv,dbus,procps,curl,ca-certificates

log() { printf '[build-tree] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  log "must run as root (debootstrap needs it)"
  exit 1
fi

need=''
# debootstrap verifies the Release file with gpgv (apt depends on it) against Debian's keyring.
command -v debootstrap >/dev/null 2>&1 || need="$need debootstrap debian-archive-keyring"
command -v systemd-nspawn >/dev/null 2>&1 || need="$need systemd-container"
if [ -n "$need" ]; then
  log "installing:$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $need >&2
fi

ready() { [ -f "$DEST/$MARKER" ] && [ "$(cat "$DEST/$MARKER")" = "$TREE_VERSION" ]; }
if ready; then
  log "tree is ready: $DEST"
  exit 0
fi

# One builder at a time; whoever waited finds the tree ready.
mkdir -p "$(dirname "$DEST")"
exec 9>"$DEST.lock"
flock 9
if ready; then
  log "tree is ready: $DEST"
  exit 0
fi

# The first Debian (not -security, not -updates) mirror of the host's apt sources, in either
# the deb822 (.sources) or the one-line (.list) format.
mirror() {
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      /^[ \t]*$/ { if (uri != "" && main) { print uri; exit } uri = ""; main = 0; next }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == "'"$SUITE"'") main = 1 }
      END { if (uri != "" && main) print uri }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { u = ($2 ~ /^\[/) ? $3 : $2; s = ($2 ~ /^\[/) ? $4 : $3; if (s == "'"$SUITE"'") print u }' "$f"
  done
}
MIRROR=$(mirror | head -n 1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
log "mirror: $MIRROR"

PARTIAL="$DEST.partial"
rm -rf "$PARTIAL" "$DEST"

log "debootstrap $SUITE (minbase + $INCLUDE) into $PARTIAL; this takes a few minutes"
start=$(date +%s)
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$PARTIAL" "$MIRROR" >&2
log "debootstrap done in $(( $(date +%s) - start )) s"

# A quick, quiet boot: no getty on the console, nothing that waits for a network the guest has
# no use for, and a fixed hostname and machine id (the guest is booted with --volatile=overlay,
# so each boot starts from this tree).
echo ai-proxy-test > "$PARTIAL/etc/hostname"
: > "$PARTIAL/etc/machine-id"
for unit in console-getty.service getty@.service systemd-networkd-wait-online.service \
  apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$PARTIAL/etc/systemd/system/$unit"
done
rm -rf "$PARTIAL/var/cache/apt/archives/"*.deb "$PARTIAL/var/lib/apt/lists/"* 2>/dev/null || true

echo "$TREE_VERSION" > "$PARTIAL/$MARKER"
mv "$PARTIAL" "$DEST"
log "tree is ready: $DEST ($(du -sh "$DEST" | cut -f1))"
