#!/usr/bin/env bash
# Runs the built mgitd image the way a container runtime would, without one: `podman run`
# is blocked on these machines (rlimits, cgroups), so the image's filesystem is copied out of
# `podman image mount` and started under chroot as the image's user, with the image's
# environment only, a read-only root and a writable workspace bind-mounted where the
# Dockerfile declares its VOLUME. Against a real Kafka broker and a real smart-HTTP git
# server it proves: the image metadata (user, exec-form entrypoint, HEALTHCHECK, volume,
# size), that nothing but the binaries, their libraries, CA certificates and passwd/group is
# inside, `mgitd --version`/`--help`, `mgitd healthcheck` both ways, one sync job end to end
# with the config file the Helm chart renders (mounted and named exactly as the chart does),
# a clean exit on SIGTERM, and that mgitd accepts the staging and production config files.
# Needs helm on PATH (scripts/check-deploy puts it there).
#
#   MGITD_PODMAN_STORE=DIR tests/deploy/image_test.sh IMAGE
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"
cd "$MGIT_REPO_ROOT"

(($# == 1)) || die "usage: MGITD_PODMAN_STORE=DIR $0 IMAGE"
image=$1
store=${MGITD_PODMAN_STORE:?MGITD_PODMAN_STORE names the podman storage directory}
podman_cmd=(podman --storage-driver vfs --root "$store/storage" --runroot "$store/run")
uid=10001
# Upper bound of the issue; the target is 40 MB and the figure is printed either way.
max_bytes=$((100 * 1000 * 1000))

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/mgitd-image-test.XXXXXX")
daemon_pid=""
mounted=false
cleanup() {
  local rc=$?
  if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -KILL "$daemon_pid" 2>/dev/null || true
  fi
  if $mounted; then
    "${podman_cmd[@]}" image unmount "$image" >/dev/null 2>&1 || true
  fi
  scripts/git-server stop "$run_dir/git" >/dev/null 2>&1 || true
  scripts/kafka stop "$run_dir/kafka" >/dev/null 2>&1 || true
  if [[ $rc -ne 0 && -f $run_dir/mgitd.log ]]; then
    log "mgitd log tail:"
    tail -n 30 "$run_dir/mgitd.log" >&2 || true
  fi
  rm -rf "$run_dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { die "image test: $*"; }

# The broker's JVM takes a while: start it first.
scripts/kafka start "$run_dir/kafka" >"$run_dir/brokers" 2>"$run_dir/kafka-start.log" &
kafka_pid=$!

# --- metadata ------------------------------------------------------------------------------
inspect() { "${podman_cmd[@]}" image inspect --format "$1" "$image"; }
size=$(inspect '{{.Size}}')
user=$(inspect '{{.Config.User}}')
entrypoint=$(inspect '{{json .Config.Entrypoint}}')
healthcheck=$(inspect '{{json .HealthCheck.Test}}')
volumes=$(inspect '{{json .Config.Volumes}}')
log "image $image: $size bytes ($((size / 1000 / 1000)) MB) uncompressed, user $user"
((size < max_bytes)) || fail "image is $size bytes, over $max_bytes"
[[ $user == "$uid:$uid" ]] || fail "image user is '$user', want $uid:$uid"
[[ $entrypoint == '["/usr/local/bin/mgitd"]' ]] || fail "entrypoint $entrypoint is not the exec form of mgitd"
[[ $healthcheck == '["CMD","/usr/local/bin/mgitd","healthcheck"]' ]] ||
  fail "HEALTHCHECK is $healthcheck (built without --format docker?)"
[[ $volumes == '{"/var/lib/mgitd":{}}' ]] || fail "volumes $volumes, want the workspace only"

# --- contents ------------------------------------------------------------------------------
mnt=$("${podman_cmd[@]}" image mount "$image")
mounted=true
root="$run_dir/rootfs"
mkdir "$root"
cp -a "$mnt/." "$root/"
"${podman_cmd[@]}" image unmount "$image" >/dev/null
mounted=false
for shell in bin/sh bin/bash usr/bin/sh bin/busybox usr/bin/curl usr/bin/wget; do
  [[ ! -e $root/$shell ]] || fail "/$shell is in the image"
done
# Everything outside the library directories, by name: nothing else may creep in.
allowed='\./(usr/local/bin/(mgitd|mgitctl)|etc/(passwd|group|nsswitch\.conf|os-release)|etc/ssl/certs/ca-certificates\.crt|var/lib/dpkg/status\.d/[a-z0-9.+-]+|usr/share/doc/[a-z0-9.+-]+/copyright)'
unexpected=$(cd "$root" &&
  find . \( -type f -o -type l \) ! -path './lib/*' ! -path './lib64/*' ! -path './usr/lib/*' | sort |
  { grep -vxE "$allowed" || true; })
[[ -z $unexpected ]] || fail "unexpected files in the image: $unexpected"
[[ $(stat -c '%u:%g %a' "$root/var/lib/mgitd") == "$uid:$uid 750" ]] ||
  fail "workspace is $(stat -c '%u:%g %a' "$root/var/lib/mgitd"), want $uid:$uid 750"
writable=$(find "$root" -path "$root/var/lib/mgitd" -prune -o \( -user "$uid" -o -perm -o+w \) ! -type l -print)
[[ -z $writable ]] || fail "writable by the mgitd user outside the workspace: $writable"
# Scanners (Trivy, Grype, Syft) find the Debian packages through these.
grep -qx 'VERSION_CODENAME=bookworm' "$root/etc/os-release" || fail "/etc/os-release does not name bookworm"
for pkg in libc6 librdkafka1 ca-certificates; do
  grep -qx "Package: $pkg" "$root/var/lib/dpkg/status.d/$pkg" 2>/dev/null || fail "no package metadata for $pkg"
done
compgen -G "$root/var/lib/dpkg/status.d/libgit2-*" >/dev/null || fail "no package metadata for libgit2"
# The libgit2 inside is the one with the security fixes (the Dockerfile's minimum).
libgit2_min=$(sed -n 's/^ARG LIBGIT2_MIN_VERSION=//p' containers/Dockerfile)
libgit2_version=$(sed -n 's/^Version: //p' "$root"/var/lib/dpkg/status.d/libgit2-*)
dpkg --compare-versions "$libgit2_version" ge "$libgit2_min" ||
  fail "libgit2 $libgit2_version in the image lacks the security fixes of $libgit2_min"
packages=$(find "$root/var/lib/dpkg/status.d" -type f | wc -l)
log "contents: $(find "$root" -type f | wc -l) files ($packages Debian packages recorded for scanners), no shell, only the workspace belongs to $uid"

# --- running it ----------------------------------------------------------------------------
# Mount points a runtime provides (the chart's config and Kafka TLS volumes included); the
# root is made read-only below, as with readOnlyRootFilesystem in Kubernetes.
mkdir "$root/proc" "$root/dev" "$root/etc/mgitd/config" "$root/etc/mgitd/kafka-tls"
workspace="$run_dir/workspace"
credentials="$run_dir/credentials"
config="$run_dir/config"
kafka_tls="$run_dir/kafka-tls"
mkdir "$workspace" "$credentials" "$config" "$kafka_tls"
chown "$uid:$uid" "$workspace"
mapfile -t image_env < <(inspect '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')

# in_image VAR=VALUE... -- COMMAND ARGS...: run COMMAND from the image as $uid, with only the
# image's environment plus the given variables, in a private mount namespace. Everything from
# the inner shell on is exec'd, so COMMAND keeps the pid written to $run_dir/in_image.pid.
in_image() {
  local extra=()
  while [[ $1 != -- ]]; do
    extra+=("$1")
    shift
  done
  shift
  # shellcheck disable=SC2016 # expanded by the inner shell, from its arguments
  unshare --mount --propagation private -- /bin/bash -euc '
    root=$1 workspace=$2 credentials=$3 pidfile=$4 config=$5 kafka_tls=$6
    shift 6
    echo $$ >"$pidfile"
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --bind "$workspace" "$root/var/lib/mgitd"
    mount --bind -o ro "$credentials" "$root/etc/mgitd/credentials"
    mount --bind -o ro "$config" "$root/etc/mgitd/config"
    mount --bind -o ro "$kafka_tls" "$root/etc/mgitd/kafka-tls"
    mount -o remount,bind,ro "$root"
    exec /usr/bin/env -i "$@"
  ' in_image "$root" "$workspace" "$credentials" "$run_dir/in_image.pid" "$config" "$kafka_tls" \
    "${image_env[@]}" "${extra[@]}" /usr/sbin/chroot --userspec="$uid:$uid" "$root" "$@"
}

version_line=$(in_image -- /usr/local/bin/mgitd --version)
expected_version=$(sed -n 's/^project(mgitd VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
# The image is built from a context without .git: the revision comes as a build argument
# (scripts/check-deploy passes this checkout's HEAD), so a release names its commit.
expected_revision=$(git rev-parse --short=12 HEAD)
[[ $version_line == "mgitd $expected_version (revision $expected_revision)" ]] ||
  fail "--version printed '$version_line', expected version $expected_version, revision $expected_revision"
in_image -- /usr/local/bin/mgitd --help >"$run_dir/help.txt" || fail "mgitd --help failed"
in_image -- /usr/local/bin/mgitctl --help >/dev/null || fail "mgitctl --help failed"
log "in the image: $version_line; --help lists $(grep -c -- '--' "$run_dir/help.txt") options"

scripts/git-server start "$run_dir/git" >/dev/null
# Over https with the server's own CA (git_ca_file): a credential never goes over plain http,
# and the network policy opens the loopback server by name (network_allow).
git_url=$(<"$run_dir/git/https_url")
cp "$run_dir/git/ca.pem" "$config/git-ca.pem"
head_sha=$(scripts/git-server create-repo "$run_dir/git" image-test 3)
printf 'username=mgit\npassword=%s\nhosts=127.0.0.1\n' "$(<"$run_dir/git/password")" >"$credentials/test-git"
chmod 0644 "$credentials/test-git"
if ! wait "$kafka_pid"; then
  cat "$run_dir/kafka-start.log" >&2
  fail "the Kafka broker did not start"
fi
brokers=$(<"$run_dir/brokers")
http_port=$(free_port)

# The chart's config file (templates/configmap.yaml) for VALUES with extra --set flags.
chart_config() {
  local values=$1
  shift
  helm template mgitd k8s/helm/mgitd --kube-version 1.33.0 -f "$values" "$@" \
    --show-only templates/configmap.yaml 2>/dev/null |
    python3 -c 'import sys, yaml; sys.stdout.write(yaml.safe_load(sys.stdin)["data"]["mgitd.conf"])'
}
chart_config k8s/helm/mgitd/values.yaml --set "config.brokers=$brokers" --set config.group_id=image-test \
  --set config.workers=2 --set config.shutdown_grace_seconds=10 \
  --set 'config.network_allow[0]=127.0.0.1' --set config.git_ca_file=/etc/mgitd/config/git-ca.pem \
  >"$config/mgitd.conf"
# The environment the chart's StatefulSet sets (http_listen on loopback here).
run_env=(MGITD_CONFIG=/etc/mgitd/config/mgitd.conf MGITD_WORKSPACE=/var/lib/mgitd
  MGITD_CREDENTIALS_DIR=/etc/mgitd/credentials MGITD_HTTP_LISTEN="127.0.0.1:$http_port"
  MGITD_GROUP_INSTANCE_ID=mgitd-0)

in_image MGITD_BROKERS="$brokers" -- /usr/local/bin/mgitctl topics create --partitions 2 --replication-factor 1 \
  >"$run_dir/topics.log" 2>&1 || { cat "$run_dir/topics.log" >&2; fail "mgitctl topics create"; }

in_image "${run_env[@]}" -- /usr/local/bin/mgitd >"$run_dir/mgitd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 300); do
  grep -q '"mgitd started"' "$run_dir/mgitd.log" && break
  kill -0 "$daemon_pid" 2>/dev/null || fail "mgitd exited during startup"
  sleep 0.1
done
grep -q '"mgitd started"' "$run_dir/mgitd.log" || fail "mgitd did not start within 30 s"
mgitd_pid=$(<"$run_dir/in_image.pid")
starting=$(grep -m 1 '"mgitd starting"' "$run_dir/mgitd.log")
for want in '"config_file":"/etc/mgitd/config/mgitd.conf"' '"group_id":"image-test"' '"workers":2' \
  '"group_instance_id":"mgitd-0"' '"workspace":"/var/lib/mgitd"'; do
  [[ $starting == *"$want"* ]] || fail "mgitd did not take $want from the chart's config and env: $starting"
done
log "mgitd runs from the chart's config file and environment"
[[ $(readlink "/proc/$mgitd_pid/exe") == */usr/local/bin/mgitd ]] || fail "pid $mgitd_pid is not the image's mgitd"

# HEALTHCHECK: `mgitd healthcheck` GETs /health/live on http_listen's port.
grep -qw healthcheck "$run_dir/help.txt" || fail "mgitd --help does not name the healthcheck subcommand"
ok=false
for _ in $(seq 1 100); do
  if in_image "${run_env[@]}" -- /usr/local/bin/mgitd healthcheck >/dev/null 2>&1; then
    ok=true
    break
  fi
  sleep 0.1
done
$ok || fail "mgitd healthcheck did not succeed against the running mgitd"
# Ready once it has subscribed (live answers from the first moment).
ok=false
for _ in $(seq 1 300); do
  if in_image "${run_env[@]}" -- /usr/local/bin/mgitd healthcheck --ready >/dev/null 2>&1; then
    ok=true
    break
  fi
  sleep 0.1
done
$ok || fail "mgitd healthcheck --ready never succeeded against the running, connected mgitd"
if in_image "${run_env[@]}" -- /usr/local/bin/mgitd healthcheck --http-listen "127.0.0.1:$(free_port)" \
  >/dev/null 2>&1; then
  fail "mgitd healthcheck succeeded against a port nothing listens on"
fi
log "mgitd healthcheck: 0 (live and ready) against the running daemon, non-zero against a closed port"

in_image MGITD_BROKERS="$brokers" -- /usr/local/bin/mgitctl enqueue --url "$git_url/image-test.git" \
  --credential test-git --target image/test --ref main --job-id image-test-1 --wait --timeout 120 \
  >"$run_dir/enqueue.log" 2>&1 || { cat "$run_dir/enqueue.log" >&2; fail "the sync job did not succeed"; }
grep -q '"status":"succeeded"' "$run_dir/enqueue.log" || { cat "$run_dir/enqueue.log" >&2; fail "no succeeded result"; }
synced=$(git -c safe.directory='*' -C "$workspace/image/test" rev-parse HEAD)
[[ $synced == "$head_sha" ]] || fail "workspace HEAD $synced, the server's main is $head_sha"
[[ $(stat -c %u "$workspace/image/test") == "$uid" ]] || fail "the working tree is not owned by $uid"
log "sync job: result succeeded, working tree at $synced (the server's main), owned by $uid"

kill -TERM "$mgitd_pid"
rc=0
wait "$daemon_pid" || rc=$?
daemon_pid=""
((rc == 0)) || fail "mgitd exited $rc on SIGTERM"
log "SIGTERM: mgitd drained and exited 0"

# The staging and production config files: mgitd must accept every key and value (a
# configuration error exits 2 before any broker is contacted). Their Kafka TLS files are a
# throwaway self-signed pair; no broker answers on the port given, so mgitd gives up after
# startup_broker_timeout_seconds with another exit code.
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=mgitd-image-test -days 1 \
  -keyout "$kafka_tls/tls.key" -out "$kafka_tls/tls.crt" 2>/dev/null
cp "$kafka_tls/tls.crt" "$kafka_tls/ca.crt"
chmod 0644 "$kafka_tls"/*
closed="127.0.0.1:$(free_port)"
for env in staging production; do
  chart_config "k8s/helm/mgitd/values-$env.yaml" >"$config/mgitd.conf"
  rc=0
  in_image "${run_env[@]}" MGITD_BROKERS="$closed" MGITD_STARTUP_BROKER_TIMEOUT_SECONDS=2 \
    MGITD_KAFKA_SECRET_SASL_PASSWORD=image-test MGITD_KAFKA_SECRET_SSL_KEY_PASSWORD=image-test \
    -- /usr/local/bin/mgitd >"$run_dir/mgitd-$env.log" 2>&1 || rc=$?
  group=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["config"]["group_id"])' \
    "k8s/helm/mgitd/values-$env.yaml")
  if ((rc == 2)) || ! grep -q "\"mgitd starting\".*\"group_id\":\"$group\"" "$run_dir/mgitd-$env.log"; then
    cat "$run_dir/mgitd-$env.log" >&2
    fail "mgitd rejected the $env config file (exit $rc)"
  fi
  last=$(python3 -c 'import json, sys
print([json.loads(l)["msg"] for l in open(sys.argv[1]) if l.startswith("{")][-1])' "$run_dir/mgitd-$env.log")
  log "$env config file accepted (group $group); without a broker: exit $rc, \"$last\""
done
log "image test passed ($((size / 1000 / 1000)) MB)"
