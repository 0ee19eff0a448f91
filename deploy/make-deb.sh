#!/usr/bin/env bash
# Builds the Debian package orchestrator_VERSION_ARCH.deb (docs/operations.md,
# "Production install"):
#
#   deploy/make-deb.sh                    Release build in build-deb/ (prefix
#                                         /usr), package in build-deb/
#   deploy/make-deb.sh --build-dir DIR    package an existing build as it is
#                                         (no configure, no build)
#   options: --output DIR (where the .deb goes; default: the build dir)
#            --compression xz|gzip|zstd|none (dpkg-deb -Z; default xz)
#
# The package holds what `cmake --install --prefix /usr` installs: the
# programs in /usr/bin, liborch, the example configurations in
# /etc/orchestrator (conffiles), the systemd units, the man pages and the
# documentation. Its postinst creates the system user `orchestrator`; it
# starts and enables nothing. Needs cmake, dpkg-deb; dpkg-shlibdeps
# (dpkg-dev) computes Depends when present. Runs without root
# (dpkg-deb --root-owner-group). Prints the path of the .deb last.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=""
OUT=""
COMPRESSION=xz

die() { echo "make-deb: $*" >&2; exit 1; }
say() { echo "make-deb: $*" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) BUILD=${2:?--build-dir needs a directory}; shift 2 ;;
        --output) OUT=${2:?--output needs a directory}; shift 2 ;;
        --compression) COMPRESSION=${2:?--compression needs a value}; shift 2 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument \"$1\" (see --help)" ;;
    esac
done

command -v dpkg-deb >/dev/null || die "dpkg-deb not found"

if [ -z "$BUILD" ]; then
    BUILD=$ROOT/build-deb
    say "Release build in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr >&2
    cmake --build "$BUILD" -j"${ORCH_BUILD_JOBS:-2}" \
        --target orchestratord orch-worker orchctl orch_shared orch_static >&2
fi
[ -f "$BUILD/CMakeCache.txt" ] || die "$BUILD is not a CMake build directory"
BUILD=$(cd "$BUILD" && pwd)
OUT=${OUT:-$BUILD}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
[ -n "$VERSION" ] || die "no CMAKE_PROJECT_VERSION in $BUILD/CMakeCache.txt (project(... VERSION ...))"
ARCH=$(dpkg --print-architecture)
PKG=orchestrator

STAGE=$OUT/$PKG-deb-stage
rm -rf "$STAGE"
mkdir -p "$STAGE"
# --prefix /usr puts the configurations in /etc (deploy/install-runtime.cmake)
DESTDIR=$STAGE cmake --install "$BUILD" --prefix /usr >&2
for f in usr/bin/orchestratord usr/bin/orch-worker usr/bin/orchctl etc/orchestrator/orchestrator.yaml \
         usr/lib/systemd/system/orchestratord.service; do
    [ -e "$STAGE/$f" ] || die "cmake --install did not install /$f"
done

# Debian's layout: man pages compressed, binaries stripped
find "$STAGE/usr/share/man" -type f ! -name '*.gz' -exec gzip -9n {} +
if command -v strip >/dev/null; then
    strip --strip-unneeded "$STAGE"/usr/bin/* 2>/dev/null || true
    find "$STAGE/usr/lib" -name 'liborch.so.*' -type f -exec strip --strip-unneeded {} + 2>/dev/null || true
fi

DOC=$STAGE/usr/share/doc/$PKG
mkdir -p "$DOC"
{
    cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: orchestrator

Files: *
Copyright: 2026 the orchestrator authors
License: Expat

License: Expat
EOF
    # the license text, from LICENSE, as a DEP-5 paragraph
    sed -n '/^Permission is hereby granted/,$p' "$ROOT/LICENSE" | sed 's/^$/./; s/^/ /'
} > "$DOC/copyright"

# ---- Depends: the shared libraries of the programs and liborch ----
ELFS=()
for f in "$STAGE"/usr/bin/* $(find "$STAGE/usr/lib" -name 'liborch.so.*' -type f); do
    ELFS+=("$f")
done
DEPENDS=""
if command -v dpkg-shlibdeps >/dev/null; then
    SHLIB_TMP=$(mktemp -d)
    mkdir -p "$SHLIB_TMP/debian"
    printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PKG" "$PKG" > "$SHLIB_TMP/debian/control"
    if line=$(cd "$SHLIB_TMP" && dpkg-shlibdeps -O --ignore-missing-info "${ELFS[@]}" 2>/dev/null); then
        DEPENDS=$(printf '%s\n' "$line" | sed -n 's/^shlibs:Depends=//p')
    fi
    rm -rf "$SHLIB_TMP"
fi
if [ -z "$DEPENDS" ]; then
    say "dpkg-shlibdeps unavailable or failed: using the listed dependencies"
    DEPENDS="libc6, libzmq5, libpq5, libyaml-0-2, libcurl4, libjansson4, libmicrohttpd12, libsodium23, libssl3"
fi
DEPENDS="$DEPENDS, adduser"

mkdir -p "$STAGE/DEBIAN"
INSTALLED_KB=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<EOF
Package: $PKG
Version: $VERSION
Architecture: $ARCH
Maintainer: the orchestrator authors <orchestrator@localhost>
Installed-Size: $INSTALLED_KB
Depends: $DEPENDS
Suggests: postgresql, postgresql-client
Section: admin
Priority: optional
Description: distributed job orchestrator (coordinator, worker, orchctl)
 orchestratord keeps priority-queued jobs durable in PostgreSQL and hands
 them over ZeroMQ to a fleet of orch-worker processes; orchctl submits,
 inspects, retries and cancels jobs. Includes the systemd units
 orchestratord.service and orch-worker@.service, the example configurations
 in /etc/orchestrator and the client library liborch.
 .
 The backup_verify job type needs the PostgreSQL client tools
 (postgresql-client).
EOF

# every file under /etc is a conffile: dpkg keeps the administrator's changes
(cd "$STAGE" && find etc -type f | sort | sed 's|^|/|') > "$STAGE/DEBIAN/conffiles"

cat > "$STAGE/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# orchestrator postinst: the system user the units run as. Starts and
# enables nothing: configure /etc/orchestrator first (docs/operations.md).
set -e
if [ "$1" = configure ]; then
    if ! getent passwd orchestrator >/dev/null; then
        adduser --system --group --home /nonexistent --no-create-home \
            --gecos "orchestrator daemons" --quiet orchestrator
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || true
    fi
fi
exit 0
EOF
cat > "$STAGE/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# orchestrator postrm: let systemd forget the removed units. The user
# `orchestrator` and /etc/orchestrator (on remove) are kept.
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
EOF
chmod 0755 "$STAGE/DEBIAN" "$STAGE/DEBIAN/postinst" "$STAGE/DEBIAN/postrm"
chmod 0644 "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/conffiles"
find "$STAGE" -type d -exec chmod 0755 {} +

DEB=$OUT/${PKG}_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Z"$COMPRESSION" --build "$STAGE" "$DEB" >&2
say "built $DEB"
echo "$DEB"
