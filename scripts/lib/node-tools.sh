# shellcheck shell=bash
# The webhook tests' Node.js client (tests/webhooks/): its npm packages, pinned with their
# integrity hashes in tests/webhooks/package-lock.json, installed with `npm ci` into .cache/.
# Sourced after common.sh, not executed.
#
#   ensure_webhook_node_modules   installs the packages into
#                                 .cache/webhooks-node-<hash>/node_modules on first use (later
#                                 calls need no network) and exports
#                                 MGITD_TEST_WEBHOOK_NODE_MODULES  that node_modules directory
#                                 MGITD_TEST_WEBHOOK_CLIENT        tests/webhooks/webhook-request.mjs
#                                 MGITD_TEST_WEBHOOK_LOAD          tests/webhooks/webhook-load.mjs
#                                 (absolute paths)

WEBHOOK_NODE_SOURCE="$MGIT_REPO_ROOT/tests/webhooks"
# The oldest Node.js the client runs on (global fetch; @octokit/webhooks-methods' engines):
# Debian bookworm's own nodejs is 18.
WEBHOOK_NODE_MIN_MAJOR=18

# Installs the npm packages pinned in SRC/package-lock.json into
# .cache/NAME-node-<hash>/node_modules (once; later calls only check the marker), runs
# `node SELF_CHECK --self-check --node-modules DIR` before trusting them, and sets
# NODE_PACKAGES_DIR to that node_modules directory.
#
# Named by a hash of package.json and package-lock.json, so a changed pin gets a fresh
# directory instead of a stale one. The packages are plain JavaScript and JSON: the Node.js
# version is not part of the name.
install_node_packages() {
  local src=$1 name=$2 self_check=$3 cache="$MGIT_REPO_ROOT/.cache" key dir major what
  what=${src#"$MGIT_REPO_ROOT"/}
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    die "node and npm are needed for $what (run scripts/install-deps)"
  fi
  major=$(node -p 'process.versions.node.split(".")[0]')
  ((major >= WEBHOOK_NODE_MIN_MAJOR)) ||
    die "$what needs Node.js $WEBHOOK_NODE_MIN_MAJOR or later, found $(node --version)"
  key=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-16)
  dir="$cache/$name-node-$key"
  # Marker written last, so an interrupted install is redone rather than trusted.
  if [[ ! -f $dir/.complete ]]; then
    mkdir -p "$cache"
    # Parallel test jobs may all install on a cold cache.
    exec 9>"$cache/$name-node.lock"
    flock 9
    if [[ ! -f $dir/.complete ]]; then
      log "installing the npm packages of $what into ${dir#"$MGIT_REPO_ROOT"/}"
      rm -rf "$dir"
      mkdir -p "$dir"
      cp "$src/package.json" "$src/package-lock.json" "$dir/"
      # npm ci installs exactly the lock file (and fails if package.json disagrees with it),
      # checks every tarball against its integrity hash, and runs no install scripts.
      (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline) \
        </dev/null >"$dir/install.log" 2>&1 ||
        { cat "$dir/install.log" >&2; die "npm ci in ${dir#"$MGIT_REPO_ROOT"/} failed"; }
      node "$self_check" --self-check --node-modules "$dir/node_modules" >&2 ||
        die "$what cannot run with the packages in $dir"
      touch "$dir/.complete"
    fi
    exec 9>&-
  fi
  NODE_PACKAGES_DIR="$dir/node_modules"
}

ensure_webhook_node_modules() {
  install_node_packages "$WEBHOOK_NODE_SOURCE" webhooks "$WEBHOOK_NODE_SOURCE/webhook-request.mjs"
  export MGITD_TEST_WEBHOOK_NODE_MODULES="$NODE_PACKAGES_DIR"
  export MGITD_TEST_WEBHOOK_CLIENT="$WEBHOOK_NODE_SOURCE/webhook-request.mjs"
  export MGITD_TEST_WEBHOOK_LOAD="$WEBHOOK_NODE_SOURCE/webhook-load.mjs"
}

# The discovery tests' stand-in API server (tests/discovery/): @octokit/openapi (GitHub's
# published OpenAPI description) and ajv, pinned in tests/discovery/package-lock.json, installed
# the same way as the webhook client's packages.
#
#   ensure_discovery_node_modules  installs them into .cache/discovery-node-<hash>/node_modules
#                                  on first use and exports
#                                  MGITD_TEST_DISCOVERY_NODE_MODULES  that directory (absolute)
DISCOVERY_NODE_SOURCE="$MGIT_REPO_ROOT/tests/discovery"

ensure_discovery_node_modules() {
  # The self-check proves the validator rejects a broken GitHub repository object before any
  # test trusts it.
  install_node_packages "$DISCOVERY_NODE_SOURCE" discovery "$DISCOVERY_NODE_SOURCE/standin-server.mjs"
  export MGITD_TEST_DISCOVERY_NODE_MODULES="$NODE_PACKAGES_DIR"
}
