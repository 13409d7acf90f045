#!/bin/sh
# Makes a Docker image holding this machine's Node and npm (and a shell), to build deploy/docker/Dockerfile with
# NODE_IMAGE=<tag> where no registry is reachable to pull node:20-bookworm-slim from. For tests only.
set -eu
tag=${1:-trireme-test-node:20}
root=$(mktemp -d)
node=$(readlink -f "$(command -v node)")
npmdir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
mkdir -p "$root/usr/bin" "$root/bin" "$root/usr/lib/node_modules" "$root/etc/ssl/certs" "$root/tmp" "$root/home/node" "$root/app"
chmod 1777 "$root/tmp"
cp "$node" "$root/usr/bin/node"
cp -r "$npmdir" "$root/usr/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
cp "$(readlink -f /bin/sh)" "$root/bin/sh"
cp "$(readlink -f /usr/bin/env)" "$root/usr/bin/env"
for bin in "$node" "$(readlink -f /bin/sh)" "$(readlink -f /usr/bin/env)"; do
  ldd "$bin" | awk '/=> \//{print $3} /^\s*\/lib/{print $1}' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
  done
done
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' > "$root/etc/group"
chown 1000:1000 "$root/home/node" "$root/app"
# This machine's trust (a TLS-inspecting proxy's CA, where there is one) travels with its Node.
tar -C "$root" -c . | docker import -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/root NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' - "$tag" >/dev/null
rm -rf "$root"
echo "$tag"
