#!/bin/sh
# Prepares a worker host for Trireme's systemd driver: a system user, the package, the project (config and task
# modules), the environment file and the unit template. Run it as root on each worker host; the controller host
# reaches them with `systemctl --host trireme@HOST` (SSH keys for that user, see docs/deploy.md).
#
#   sudo ./install.sh --package trireme-jobs-0.1.0.tgz --project /path/to/project --redis redis://redis.internal:6379 [--name vm1]
#
# --package: a tarball from `npm pack`, or a registry name (trireme-jobs, trireme-jobs@0.1.0). --project: a folder
# with trireme.yml and the task modules (its package.json dependencies are installed too). --name: this host's name as
# drivers.systemd.hosts has it, when it is not `hostname`. Needs Node 20 or newer and npm.
set -eu

package=""; project=""; redis=""; name=""
prefix=/opt/trireme; workdir=/srv/trireme; user=trireme
while [ $# -gt 0 ]; do
  case "$1" in
    --package) package=$2; shift 2 ;;
    --project) project=$2; shift 2 ;;
    --redis) redis=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --user) user=$2; shift 2 ;;
    *) echo "install.sh: unknown argument $1 (see the header of this script)" >&2; exit 2 ;;
  esac
done
[ -n "$package" ] && [ -n "$project" ] && [ -n "$redis" ] || { echo "install.sh: --package, --project and --redis are required" >&2; exit 2; }
[ -f "$project/trireme.yml" ] || { echo "install.sh: $project/trireme.yml not found" >&2; exit 2; }
command -v node >/dev/null || { echo "install.sh: Node 20 or newer is needed (node not found)" >&2; exit 2; }
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "install.sh: Node 20 or newer is needed, found $(node --version)" >&2; exit 2; }

id "$user" >/dev/null 2>&1 || useradd --system --home-dir "$workdir" --shell /usr/sbin/nologin "$user"
mkdir -p "$prefix" "$workdir" /etc/trireme
case "$package" in *.tgz) cp "$package" "$prefix/trireme.tgz"; package="$prefix/trireme.tgz" ;; esac
[ -f "$prefix/package.json" ] || (cd "$prefix" && npm init -y >/dev/null)
(cd "$prefix" && npm install --omit=dev --no-audit --no-fund "$package" >/dev/null)

# The project, with `trireme-jobs` resolvable from its task modules.
cp -R "$project/." "$workdir/"
if [ -f "$workdir/package.json" ]; then (cd "$workdir" && npm install --omit=dev --no-audit --no-fund >/dev/null); fi
mkdir -p "$workdir/node_modules"
ln -sfn "$prefix/node_modules/trireme-jobs" "$workdir/node_modules/trireme-jobs"
chown -R "$user:$user" "$workdir"

# The unit template and the environment, from the project's own config.
"$prefix/node_modules/.bin/trireme" -c "$workdir/trireme.yml" export systemd --out /etc/systemd/system --prefix "$prefix" --workdir "$workdir" --user "$user" >/dev/null
mv /etc/systemd/system/trireme.env.example /etc/trireme/trireme.env.example
{
  echo "TRIREME_REDIS_URL=$redis"
  echo "TRIREME_CONFIG=$workdir/trireme.yml"
  [ -n "$name" ] && echo "TRIREME_HOSTNAME=$name"
  echo "TRIREME_LOG_FORMAT=json"
} > /etc/trireme/trireme.env
chmod 640 /etc/trireme/trireme.env
chgrp "$user" /etc/trireme/trireme.env
systemctl daemon-reload
echo "install.sh: ready; the controller starts replicas as trireme-worker@POOL-N.service"
