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

# Named by a hash of package.json and package-lock.json, so a changed pin gets a fresh
# directory instead of a stale one. The packages are plain JavaScript and JSON: the Node.js
# version is not part of the name.
ensure_webhook_node_modules() {
  local src=$WEBHOOK_NODE_SOURCE cache="$MGIT_REPO_ROOT/.cache" key dir major
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    die "node and npm are needed for tests/webhooks (run scripts/install-deps)"
  fi
  major=$(node -p 'process.versions.node.split(".")[0]')
  ((major >= WEBHOOK_NODE_MIN_MAJOR)) ||
    die "tests/webhooks needs Node.js $WEBHOOK_NODE_MIN_MAJOR or later, found $(node --version)"
  key=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-16)
  dir="$cache/webhooks-node-$key"
  # Marker written last, so an interrupted install is redone rather than trusted.
  if [[ ! -f $dir/.complete ]]; then
    mkdir -p "$cache"
    # Parallel test jobs may all install on a cold cache.
    exec 9>"$cache/webhooks-node.lock"
    flock 9
    if [[ ! -f $dir/.complete ]]; then
      log "installing the npm packages of tests/webhooks into ${dir#"$MGIT_REPO_ROOT"/}"
      rm -rf "$dir"
      mkdir -p "$dir"
      cp "$src/package.json" "$src/package-lock.json" "$dir/"
      # npm ci installs exactly the lock file (and fails if package.json disagrees with it),
      # checks every tarball against its integrity hash, and runs no install scripts.
      (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline) \
        </dev/null >"$dir/install.log" 2>&1 ||
        { cat "$dir/install.log" >&2; die "npm ci in ${dir#"$MGIT_REPO_ROOT"/} failed"; }
      node "$src/webhook-request.mjs" --self-check --node-modules "$dir/node_modules" >&2 ||
        die "the webhook client cannot run with the packages in $dir"
      touch "$dir/.complete"
    fi
    exec 9>&-
  fi
  export MGITD_TEST_WEBHOOK_NODE_MODULES="$dir/node_modules"
  export MGITD_TEST_WEBHOOK_CLIENT="$src/webhook-request.mjs"
  export MGITD_TEST_WEBHOOK_LOAD="$src/webhook-load.mjs"
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
  local src=$DISCOVERY_NODE_SOURCE cache="$MGIT_REPO_ROOT/.cache" key dir major
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    die "node and npm are needed for tests/discovery (run scripts/install-deps)"
  fi
  major=$(node -p 'process.versions.node.split(".")[0]')
  ((major >= WEBHOOK_NODE_MIN_MAJOR)) ||
    die "tests/discovery needs Node.js $WEBHOOK_NODE_MIN_MAJOR or later, found $(node --version)"
  key=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-16)
  dir="$cache/discovery-node-$key"
  if [[ ! -f $dir/.complete ]]; then
    mkdir -p "$cache"
    exec 9>"$cache/discovery-node.lock"
    flock 9
    if [[ ! -f $dir/.complete ]]; then
      log "installing the npm packages of tests/discovery into ${dir#"$MGIT_REPO_ROOT"/}"
      rm -rf "$dir"
      mkdir -p "$dir"
      cp "$src/package.json" "$src/package-lock.json" "$dir/"
      (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline) \
        </dev/null >"$dir/install.log" 2>&1 ||
        { cat "$dir/install.log" >&2; die "npm ci in ${dir#"$MGIT_REPO_ROOT"/} failed"; }
      # The validator must reject a broken GitHub repository object before any test trusts it.
      node "$src/standin-server.mjs" --self-check --node-modules "$dir/node_modules" >&2 ||
        die "the discovery stand-in cannot run with the packages in $dir"
      touch "$dir/.complete"
    fi
    exec 9>&-
  fi
  export MGITD_TEST_DISCOVERY_NODE_MODULES="$dir/node_modules"
}
