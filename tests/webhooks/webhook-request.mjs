#!/usr/bin/env node
// Sends ONE webhook request as GitHub, GitLab or Gitea would, built from the provider's real
// example payload, and prints one JSON line: {"status":202,"body":"...","latency_ms":12.3,...}.
// Exit status: 0 when a response arrived (whatever its HTTP status), 1 when none did (status 0
// and "error" in the line), 2 for a usage error. See README.md for every option.
import {
  runMain,
  UsageError,
  loadPackages,
  parseOptions,
  prepareRequest,
  send,
} from "./webhook-common.mjs";

const USAGE = `usage: webhook-request.mjs --url URL --provider github|gitlab|gitea --secret-file FILE
         [--event push|tag|delete|ping] [--repository ORG/NAME] [--clone-url URL]
         [--ref REF] [--before SHA] [--after SHA] [--delivery ID]
         [--bad-signature] [--no-signature] [--content-type CT] [--body-file FILE]
         [--header 'Name: value']... [--omit-header NAME]... [--method METHOD]
         [--timeout-ms MS] [--node-modules DIR] [--print-request]
       webhook-request.mjs --self-check [--node-modules DIR]`;

const SPEC = {
  url: "string",
  provider: "string",
  event: "string",
  "secret-file": "string",
  repository: "string",
  "clone-url": "string",
  ref: "string",
  before: "string",
  after: "string",
  delivery: "string",
  "bad-signature": "boolean",
  "no-signature": "boolean",
  "content-type": "string",
  "body-file": "string",
  header: "list",
  "omit-header": "list",
  method: "string",
  "timeout-ms": "string",
  "node-modules": "string",
  "print-request": "boolean",
  "self-check": "boolean",
  help: "boolean",
};

// GitHub's documented test vector for X-Hub-Signature-256 ("Validating webhook deliveries").
async function selfCheck(packages) {
  const expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  const got = await packages.sign("It's a Secret to Everybody", "Hello, World!");
  if (got !== expected) throw new Error(`sign() gave ${got}, GitHub documents ${expected}`);
  const names = packages.examples.map((e) => e.name);
  for (const name of ["push", "ping"])
    if (!names.includes(name)) throw new Error(`@octokit/webhooks-examples lacks ${name}`);
  console.log(JSON.stringify({ self_check: "ok", node: process.versions.node, ...packages.versions }));
}

async function main() {
  const options = parseOptions(process.argv.slice(2), SPEC);
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const packages = await loadPackages(options["node-modules"]);
  if (options["self-check"]) {
    await selfCheck(packages);
    return 0;
  }
  if (!options.url) throw new UsageError("--url is required");
  if (!options.provider) throw new UsageError("--provider is required");
  const timeoutMs = Number(options["timeout-ms"] ?? 30000);
  if (!(timeoutMs > 0)) throw new UsageError("--timeout-ms must be a positive number");
  const { headers, body, delivery } = await prepareRequest(options, packages);
  if (options["print-request"]) {
    // For debugging a test: what is sent, on stderr, with GitLab's token (the secret itself)
    // redacted. Signatures are HMACs: they do not reveal the secret.
    const shown = { ...headers };
    for (const name of Object.keys(shown))
      if (name.toLowerCase() === "x-gitlab-token") shown[name] = "[REDACTED]";
    console.error(JSON.stringify({ url: options.url, headers: shown, body: body.toString("utf8") }, null, 2));
  }
  const result = await send({
    url: options.url,
    method: options.method ?? "POST",
    headers,
    body,
    timeoutMs,
  });
  console.log(JSON.stringify({ ...result, delivery }));
  return result.status === 0 ? 1 : 0;
}

runMain(main, "webhook-request.mjs", USAGE);
