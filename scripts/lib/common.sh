# shellcheck shell=bash
# Shared helpers for the test-infrastructure scripts. Sourced, not executed.

# Repo root, derived from this file's location so scripts work from any cwd
# (CI runs them from a fresh clone whose path we do not know in advance).
MGIT_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export MGIT_REPO_ROOT

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Ask the kernel for an unused loopback port. There is an unavoidable race
# between closing this socket and the server binding it, but with ephemeral
# ports that race is practically never lost, and it lets parallel test runs
# (and a developer's own services) coexist without any fixed port.
free_port() {
    python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# True if PID is a live process. A zombie counts as dead: daemons we start
# are reparented to PID 1 when our script exits, and on some machines PID 1
# reaps slowly (over a second), so `kill -0` alone would make stop look slow.
# If NEEDLE is given, the process's command line must contain it, so a stale
# pid file whose pid was reused by an unrelated process is never signalled.
pid_alive() {
    local pid=$1 needle=${2:-} stat cmdline
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]] || return 1
    if [[ -n $needle ]]; then
        cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
        [[ $cmdline == *"$needle"* ]] || return 1
    fi
    return 0
}

# True if the pid stored in FILE names a live process (see pid_alive).
pidfile_alive() {
    local f=$1 needle=${2:-} pid
    [[ -s $f ]] || return 1
    pid=$(<"$f")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    pid_alive "$pid" "$needle"
}

# Stop the process whose pid is in FILE: TERM, wait up to TIMEOUT seconds,
# then KILL. Idempotent: a missing file or dead pid is success.
stop_pidfile() {
    local f=$1 timeout=${2:-20} needle=${3:-} pid i
    if ! pidfile_alive "$f" "$needle"; then
        rm -f "$f"
        return 0
    fi
    pid=$(<"$f")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    if pid_alive "$pid"; then
        log "pid $pid ignored TERM for ${timeout}s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            pid_alive "$pid" || break
            sleep 0.1
        done
    fi
    rm -f "$f"
}

# Random alphanumeric secret; avoids characters that would need URL-escaping
# when embedded in http://user:pass@host URLs.
random_secret() {
    local len=${1:-24}
    python3 -c "import secrets,string,sys
a = string.ascii_letters + string.digits
print(''.join(secrets.choice(a) for _ in range(int(sys.argv[1]))))" "$len"
}
