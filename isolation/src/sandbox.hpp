#pragma once

#include <string>

#include "mgit/isolation/worker.hpp"

namespace mgit::isolation {

/// First thing a worker does, before it reads anything: die with the supervisor
/// (PR_SET_PDEATHSIG, so no orphan keeps a target lock after the daemon is SIGKILLed), no
/// new privileges, not dumpable (its memory holds a credential), no core files, and SIGXFSZ
/// ignored so a file over RLIMIT_FSIZE fails with EFBIG (→ `disk_full`) instead of killing
/// it. Called before anything is read, so the parent-death signal covers the whole life.
void harden_process();

/// Applies the setup's rlimits and, where the kernel has it, a Landlock ruleset: read and
/// write only inside the workspace and the worker's home, read-only system paths (libraries,
/// CA certificates, resolver files), nothing else — not the credentials directory.
/// Returns what it applied, for the supervisor's log ("landlock abi 7; rlimit data …").
std::string apply_sandbox(const WorkerSetup& setup);

}  // namespace mgit::isolation
