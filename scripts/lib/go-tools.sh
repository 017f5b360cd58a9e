# shellcheck shell=bash
# Pinned Go tools in .cache/bin, built with `go install MODULE/CMD@VERSION` (the Go checksum
# database verifies each download). Sourced after common.sh, not executed.
#
#   go_tools_setup                        puts Go and .cache/bin on PATH; dies without Go
#   go_tool MODULE/CMD VERSION NAME       installs the command as .cache/bin/NAME unless that
#                                         exact MODULE/CMD@VERSION is already there

GO_TOOLS_BIN="$MGIT_REPO_ROOT/.cache/bin"

go_tools_setup() {
  export GOBIN="$GO_TOOLS_BIN" GOFLAGS=-buildvcs=false
  case :$PATH: in
  *":$GOBIN:"*) ;;
  *) export PATH="$GOBIN:$PATH" ;;
  esac
  # The machine image installs Go under /usr/local/go; a non-login shell may not have it on PATH.
  if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
    export PATH="$PATH:/usr/local/go/bin"
  fi
  command -v go >/dev/null ||
    die "go is needed (Debian bookworm's golang is too old; see docs/deployment/README.md)"
}

go_tool() {
  local pkg=$1 version=$2 name=$3 stamp="$GO_TOOLS_BIN/.$3.version" tmp
  if [[ -x $GO_TOOLS_BIN/$name && -f $stamp && $(<"$stamp") == "$pkg@$version" ]]; then
    return 0
  fi
  log "installing $pkg@$version as .cache/bin/$name"
  mkdir -p "$GO_TOOLS_BIN"
  # go install names the binary after the command's directory (toxiproxy's are `server` and
  # `cli`): build into a directory of its own, then rename.
  tmp=$(mktemp -d "$GO_TOOLS_BIN/.install.XXXXXX")
  if ! GOBIN="$tmp" nice -n 10 go install "$pkg@$version"; then
    rm -rf "$tmp"
    die "go install $pkg@$version failed"
  fi
  mv -f "$tmp/${pkg##*/}" "$GO_TOOLS_BIN/$name"
  rm -rf "$tmp"
  printf '%s\n' "$pkg@$version" >"$stamp"
}
