#!/bin/sh
# Creates sample.git with three commits on main the first time, then serves the repositories
# over smart HTTP in the foreground (PID 1 gets the stop signal). GIT_ROOT and LIGHTTPD_CONF
# exist so scripts/check-deploy can run this on the host against a copy of the config.
set -eu
root=${GIT_ROOT:-/srv/git}
if [ ! -d "$root/sample.git" ]; then
  work=$(mktemp -d)
  git init -q -b main "$work"
  for i in 1 2 3; do
    echo "change $i" >>"$work/README"
    git -C "$work" add README
    git -C "$work" -c user.name=dev -c user.email=dev@example.invalid commit -q -m "change $i"
  done
  git clone -q --bare "$work" "$root/sample.git"
  rm -rf "$work"
fi
exec lighttpd -D -f "${LIGHTTPD_CONF:-/etc/lighttpd/git.conf}"
