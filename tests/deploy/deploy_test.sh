#!/usr/bin/env bash
# Tests scripts/deploy and scripts/rollback with recording stand-ins for helm and kubectl on
# PATH: each case asserts the exact commands run, in order, and the exit code, including the
# failure paths (a failed upgrade, a failed rollout or a wrong image is followed by the
# documented rollback to the revision recorded before the upgrade).
set -euo pipefail

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"
cd "$MGIT_REPO_ROOT"

work=$(mktemp -d "${TMPDIR:-/tmp}/mgitd-deploy-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# --- the stand-ins -------------------------------------------------------------------------
# Both append their command line (shell-quoted) to $STANDIN_DIR/calls and act on files in
# $STANDIN_DIR: history.json (absent: the release does not exist), upgrade.rc, rollback.rc,
# rollout.rcs (one exit code per `rollout status`, in order), image (what the StatefulSet
# runs after the upgrade). A successful upgrade or rollback appends a revision to
# history.json, as Helm does.
mkdir -p "$work/bin"
cat >"$work/bin/helm" <<'STANDIN'
#!/usr/bin/env bash
set -euo pipefail
d=${STANDIN_DIR:?}
line="helm"; for a in "$@"; do line+=" $(printf '%q' "$a")"; done
echo "$line" >>"$d/calls"
add_revision() {  # status of the new revision; the old deployed one is superseded
  python3 - "$d/history.json" "$1" "$2" <<'PY'
import json, os, sys
path, status, description = sys.argv[1:]
h = json.load(open(path)) if os.path.exists(path) else []
if status == "deployed":
    for e in h:
        if e["status"] == "deployed":
            e["status"] = "superseded"
h.append({"revision": len(h) + 1, "status": status, "description": description})
json.dump(h, open(path, "w"))
PY
}
case $1 in
history)
  [[ -f $d/history.json ]] || { echo "Error: release: not found" >&2; exit 1; }
  cat "$d/history.json" ;;
upgrade)
  for a in "$@"; do [[ $a != --dry-run ]] || exit 0; done
  rc=$(cat "$d/upgrade.rc" 2>/dev/null || echo 0)
  if ((rc == 0)); then add_revision deployed "Upgrade complete"; else
    echo "Error: UPGRADE FAILED: context deadline exceeded" >&2
    # --atomic: Helm rolls the failed upgrade back itself (when there is something to go back to).
    [[ -f $d/history.json ]] && add_revision failed "Upgrade failed" && add_revision deployed "Rollback (atomic)"
  fi
  exit "$rc" ;;
rollback)
  for a in "$@"; do [[ $a != --dry-run ]] || exit 0; done
  rc=$(cat "$d/rollback.rc" 2>/dev/null || echo 0)
  ((rc != 0)) || add_revision deployed "Rollback to $3"
  exit "$rc" ;;
*) echo "helm stand-in: unexpected command $1" >&2; exit 99 ;;
esac
STANDIN
cat >"$work/bin/kubectl" <<'STANDIN'
#!/usr/bin/env bash
set -euo pipefail
d=${STANDIN_DIR:?}
line="kubectl"; for a in "$@"; do line+=" $(printf '%q' "$a")"; done
echo "$line" >>"$d/calls"
case " $* " in
*" rollout status "*)
  rcs=$(cat "$d/rollout.rcs" 2>/dev/null || echo 0)
  read -r rc rest <<<"$rcs"
  echo "${rest:-0}" >"$d/rollout.rcs"
  exit "$rc" ;;
*" get "*) cat "$d/image" ;;
*) echo "kubectl stand-in: unexpected command $*" >&2; exit 99 ;;
esac
STANDIN
chmod +x "$work/bin/helm" "$work/bin/kubectl"

# --- cases ---------------------------------------------------------------------------------
passed=0 failed=0
history() {  # history REVISION:STATUS... -> history.json
  python3 -c 'import json, sys
print(json.dumps([{"revision": int(r), "status": s, "description": ""} for r, s in (a.split(":") for a in sys.argv[2:])]))' \
    - "$@" >"$STANDIN_DIR/history.json"
}
new_case() {
  export STANDIN_DIR="$work/case$((passed + failed))"
  mkdir -p "$STANDIN_DIR"
  : >"$STANDIN_DIR/calls"
  echo "ghcr.io/mgitd/mgitd:1.4.0" >"$STANDIN_DIR/image"
}
# expect NAME RC COMMAND... <<< expected calls, one per line
expect() {
  local name=$1 want_rc=$2 rc=0
  shift 2
  local want
  want=$(cat)
  PATH="$work/bin:$PATH" "$@" >"$STANDIN_DIR/out" 2>&1 </dev/null || rc=$?
  local got
  got=$(cat "$STANDIN_DIR/calls")
  if [[ $rc == "$want_rc" && $got == "$want" ]]; then
    passed=$((passed + 1))
    printf 'ok   %s\n' "$name" >&2
  else
    failed=$((failed + 1))
    printf 'FAIL %s: exit %s (want %s)\n--- calls\n%s\n--- wanted\n%s\n--- output\n%s\n' \
      "$name" "$rc" "$want_rc" "$got" "$want" "$(cat "$STANDIN_DIR/out")" >&2
  fi
}
output_has() {  # the last case's output contains TEXT
  if grep -qF -- "$1" "$STANDIN_DIR/out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    printf 'FAIL output lacks "%s":\n%s\n' "$1" "$(cat "$STANDIN_DIR/out")" >&2
  fi
}

S="--namespace mgitd-staging"
P="--namespace mgitd-production"
UPGRADE_S="helm upgrade --install mgitd k8s/helm/mgitd $S -f k8s/helm/mgitd/values-staging.yaml --set-string image.tag=1.4.0 --atomic --wait --timeout 15m --history-max 20"
UPGRADE_P="helm upgrade --install mgitd k8s/helm/mgitd $P -f k8s/helm/mgitd/values-production.yaml --set-string image.tag=1.4.0 --atomic --wait --timeout 15m --history-max 20"
GET_IMAGE='get statefulset/mgitd --output jsonpath=\{.spec.template.spec.containers\[\?\(@.name==\"mgitd\"\)\].image\}'

new_case
history 1:superseded 2:deployed
expect "staging deploy succeeds" 0 scripts/deploy --env staging --version 1.4.0 <<EOF
helm history mgitd $S --max 20 --output json
$UPGRADE_S
kubectl $S rollout status statefulset/mgitd --timeout 15m
kubectl $S $GET_IMAGE
helm history mgitd $S --max 20 --output json
EOF
output_has "now at revision 2"
output_has "deployed 1.4.0 to staging (revision 3)"

new_case
history 1:deployed
expect "production refused without --confirm-production" 2 scripts/deploy --env production --version 1.4.0 <<<""
output_has "refusing to deploy to production without --confirm-production"

new_case
expect "production refuses a pre-release" 2 scripts/deploy --env production --version 1.4.0-rc.1 --confirm-production <<<""

new_case
expect "a malformed version is a usage error" 2 scripts/deploy --env staging --version 1.4 <<<""

new_case
expect "an unknown environment is a usage error" 2 scripts/deploy --env prod --version 1.4.0 <<<""

new_case
history 1:superseded 2:deployed
expect "dry run renders and changes nothing" 0 scripts/deploy --env production --version 1.4.0 --dry-run <<EOF
helm history mgitd $P --max 20 --output json
$UPGRADE_P --dry-run
EOF
output_has "on failure:    scripts/rollback --env production --to 2"

new_case
history 1:superseded 2:deployed
echo 1 >"$STANDIN_DIR/upgrade.rc"
expect "failed upgrade rolls back to the recorded revision" 1 scripts/deploy --env staging --version 1.4.0 <<EOF
helm history mgitd $S --max 20 --output json
$UPGRADE_S
helm history mgitd $S --max 20 --output json
helm rollback mgitd 2 $S --wait --timeout 15m --history-max 20
kubectl $S rollout status statefulset/mgitd --timeout 15m
EOF
output_has "rolled back to revision 2"

new_case
history 1:superseded 2:deployed
echo "1 0" >"$STANDIN_DIR/rollout.rcs"
expect "production: failed rollout rolls back, confirmed" 1 \
  scripts/deploy --env production --version 1.4.0 --confirm-production <<EOF
helm history mgitd $P --max 20 --output json
$UPGRADE_P
kubectl $P rollout status statefulset/mgitd --timeout 15m
helm history mgitd $P --max 20 --output json
helm rollback mgitd 2 $P --wait --timeout 15m --history-max 20
kubectl $P rollout status statefulset/mgitd --timeout 15m
EOF

new_case
history 1:superseded 2:deployed
echo "ghcr.io/mgitd/mgitd:1.3.2" >"$STANDIN_DIR/image"
expect "a StatefulSet on the wrong image rolls back" 1 scripts/deploy --env staging --version 1.4.0 <<EOF
helm history mgitd $S --max 20 --output json
$UPGRADE_S
kubectl $S rollout status statefulset/mgitd --timeout 15m
kubectl $S $GET_IMAGE
helm history mgitd $S --max 20 --output json
helm rollback mgitd 2 $S --wait --timeout 15m --history-max 20
kubectl $S rollout status statefulset/mgitd --timeout 15m
EOF
output_has "runs image 'ghcr.io/mgitd/mgitd:1.3.2', not version 1.4.0"

new_case
history 1:superseded 2:deployed
echo 1 >"$STANDIN_DIR/upgrade.rc"
echo 1 >"$STANDIN_DIR/rollback.rc"
expect "a failed rollback is reported" 1 scripts/deploy --env staging --version 1.4.0 <<EOF
helm history mgitd $S --max 20 --output json
$UPGRADE_S
helm history mgitd $S --max 20 --output json
helm rollback mgitd 2 $S --wait --timeout 15m --history-max 20
EOF
output_has "ROLLBACK FAILED"

new_case
echo 1 >"$STANDIN_DIR/upgrade.rc"
expect "a failed first install has nothing to roll back to" 1 \
  scripts/deploy --env staging --version 1.4.0 --kube-context staging-eu <<EOF
helm history mgitd $S --kube-context staging-eu --max 20 --output json
helm upgrade --install mgitd k8s/helm/mgitd $S --kube-context staging-eu -f k8s/helm/mgitd/values-staging.yaml --set-string image.tag=1.4.0 --atomic --wait --timeout 15m --history-max 20
EOF
output_has "there was no earlier revision"

new_case
history 1:superseded 2:superseded 3:failed 4:deployed
expect "rollback without --to goes to the last good revision before the current one" 0 \
  scripts/rollback --env staging <<EOF
helm history mgitd $S --max 20 --output json
helm rollback mgitd 2 $S --wait --timeout 15m --history-max 20
kubectl $S rollout status statefulset/mgitd --timeout 15m
EOF
output_has "revision 4 -> 2"

new_case
history 1:superseded 2:deployed
expect "rollback to a revision that does not exist" 1 scripts/rollback --env staging --to 9 <<EOF
helm history mgitd $S --max 20 --output json
EOF

new_case
history 1:superseded 2:deployed
expect "production rollback needs confirmation" 2 scripts/rollback --env production --to 1 <<<""

new_case
history 1:superseded 2:deployed
expect "production rollback with confirmation" 0 scripts/rollback --env production --to 1 --confirm-production <<EOF
helm history mgitd $P --max 20 --output json
helm rollback mgitd 1 $P --wait --timeout 15m --history-max 20
kubectl $P rollout status statefulset/mgitd --timeout 15m
EOF

new_case
history 1:superseded 2:deployed
expect "rollback dry run" 0 scripts/rollback --env staging --dry-run <<EOF
helm history mgitd $S --max 20 --output json
helm rollback mgitd 1 $S --wait --timeout 15m --history-max 20 --dry-run
EOF

printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
