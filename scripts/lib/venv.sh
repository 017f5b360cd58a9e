# shellcheck shell=bash
# Python venvs in .cache/ holding exactly the packages a requirements file pins (version and
# sha256 of every wheel). Sourced after common.sh, not executed.
#
#   ensure_venv NAME REQUIREMENTS CHECK   sets VENV to .cache/NAME-venv-<hash>, creating it on
#                                         first use; CHECK is Python code the venv must run
#                                         (imports of the pinned packages)

# Debian's interpreter, not whatever python3 is first on PATH: a venv must survive shell
# setups (pyenv shims) that differ between developers and CI.
PYTHON=/usr/bin/python3
VENV=

# Named by a hash of the requirements and the interpreter version, so a changed pin or a
# Python upgrade gets a fresh venv instead of a stale one.
ensure_venv() {
  local name=$1 requirements=$2 check=$3 key cache="$MGIT_REPO_ROOT/.cache"
  [[ -x $PYTHON ]] || die "$PYTHON not found (run scripts/install-deps)"
  key=$({ cat "$requirements"; "$PYTHON" --version; } | sha256sum | cut -c1-16)
  VENV="$cache/$name-venv-$key"
  # Marker written last, so an interrupted install is redone rather than trusted.
  [[ -f $VENV/.complete ]] && return 0
  mkdir -p "$cache"
  # Parallel test jobs may all create the venv on a cold cache.
  exec 9>"$cache/$name-venv.lock"
  flock 9
  if [[ -f $VENV/.complete ]]; then
    exec 9>&-
    return 0
  fi
  log "creating $VENV from ${requirements#"$MGIT_REPO_ROOT"/}"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" </dev/null >&2 ||
    die "$PYTHON -m venv failed (Debian needs python3-venv: run scripts/install-deps)"
  # --require-hashes also fails if any dependency is missing from the file;
  # --only-binary keeps pip from building an sdist whose hash we never pinned.
  "$VENV/bin/python" -m pip install --no-input --disable-pip-version-check \
    --require-hashes --only-binary=:all: -r "$requirements" \
    </dev/null >"$VENV/install.log" 2>&1 ||
    { cat "$VENV/install.log" >&2; die "pip install -r $requirements failed"; }
  "$VENV/bin/python" -c "$check" || die "the venv $VENV cannot run: $check"
  touch "$VENV/.complete"
  exec 9>&-
}
