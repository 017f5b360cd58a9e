#!/usr/bin/env node
// Sends N signed webhook requests, C at a time, each with its own delivery id, and prints one
// JSON line: {"requests":N,"status_counts":{"202":N},"p50_ms":..,"p99_ms":..,
// "requests_per_second":..}. A request that got no response counts under status "0" (the
// first such error is in "first_error"). Exit status 0 unless the options are wrong (2).
import { randomUUID } from "node:crypto";
import {
  runMain,
  UsageError,
  loadPackages,
  parseOptions,
  prepareRequest,
  round,
  send,
} from "./webhook-common.mjs";

const USAGE = `usage: webhook-load.mjs --url URL --provider github|gitlab|gitea --secret-file FILE
         --requests N --concurrency C [--repository ORG/NAME] [--event push|tag|delete]
         [--ref REF] [--timeout-ms MS] [--node-modules DIR]`;

const SPEC = {
  url: "string",
  provider: "string",
  event: "string",
  "secret-file": "string",
  repository: "string",
  ref: "string",
  requests: "string",
  concurrency: "string",
  "timeout-ms": "string",
  "node-modules": "string",
  help: "boolean",
};

function positiveInteger(options, name) {
  const value = Number(options[name]);
  if (!Number.isInteger(value) || value <= 0) throw new UsageError(`--${name} must be a positive integer`);
  return value;
}

// Nearest-rank percentile of sorted values.
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

async function main() {
  const options = parseOptions(process.argv.slice(2), SPEC);
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  if (!options.url) throw new UsageError("--url is required");
  if (!options.provider) throw new UsageError("--provider is required");
  const requests = positiveInteger(options, "requests");
  const concurrency = Math.min(positiveInteger(options, "concurrency"), requests);
  const timeoutMs = Number(options["timeout-ms"] ?? 30000);
  if (!(timeoutMs > 0)) throw new UsageError("--timeout-ms must be a positive number");
  const packages = await loadPackages(options["node-modules"]);

  // Every request is built (and signed) before the clock starts: the figures measure the
  // server, not this client's JSON and HMAC work.
  const prepared = [];
  for (let i = 0; i < requests; i++)
    prepared.push(await prepareRequest({ ...options, delivery: randomUUID() }, packages));

  const latencies = [];
  const statusCounts = {};
  let firstError;
  let next = 0;
  const worker = async () => {
    while (next < prepared.length) {
      const { headers, body } = prepared[next++];
      const result = await send({ url: options.url, headers, body, timeoutMs });
      statusCounts[result.status] = (statusCounts[result.status] ?? 0) + 1;
      if (result.status === 0) firstError ??= result.error;
      else latencies.push(result.latency_ms);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;

  latencies.sort((a, b) => a - b);
  const summary = {
    requests,
    concurrency,
    status_counts: statusCounts,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    max_ms: latencies.length ? latencies[latencies.length - 1] : null,
    requests_per_second: round(requests / seconds),
    duration_ms: round(seconds * 1000),
  };
  if (firstError !== undefined) summary.first_error = firstError;
  console.log(JSON.stringify(summary));
  return 0;
}

runMain(main, "webhook-load.mjs", USAGE);
