#!/bin/sh
# Makes a Docker image of a Debian 12 machine that boots systemd as its init, with this machine's Node and npm, for
# the systemd driver's real-engine test (test/integration/systemd-real.test.ts). Built once per tag: the test reuses
# it while it exists. Needs debootstrap and a reachable Debian mirror (TRIREME_DEBIAN_MIRROR, default deb.debian.org).
# For tests only: production worker hosts are real machines (deploy/systemd/install.sh).
set -eu
tag=${1:-trireme-test-systemd:bookworm}
if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; exit 0; fi
command -v debootstrap >/dev/null || { echo "systemd-image.sh: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 3; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps bookworm "$root" "${TRIREME_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
node=$(readlink -f "$(command -v node)")
npmdir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules"
cp "$node" "$root/usr/local/bin/node"
cp -r "$npmdir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
# This machine's trust (a TLS-inspecting proxy's CA, where there is one), for npm inside.
mkdir -p "$root/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
# A container's init need not wait for consoles or set the clock.
rm -f "$root/etc/systemd/system/getty.target.wants/"* "$root/etc/systemd/system/multi-user.target.wants/"* 2>/dev/null || true
tar -C "$root" -c . | docker import -c 'ENV container=docker' -c 'CMD ["/sbin/init"]' - "$tag" >/dev/null
echo "$tag"
