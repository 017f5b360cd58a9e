// Shared by webhook-request.mjs and webhook-load.mjs: loads the pinned npm packages, builds one
// provider request from a real example payload, signs it and sends it. See README.md.
import { createHmac, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ZERO_OID = "0000000000000000000000000000000000000000";

export class UsageError extends Error {}

// ---------------------------------------------------------------------------------------------
// Packages. ESM ignores NODE_PATH and resolves bare specifiers next to the importing file, so
// the packages are loaded from the node_modules directory scripts/lib/node-tools.sh installed
// (MGITD_TEST_WEBHOOK_NODE_MODULES, or --node-modules): JSON packages through createRequire,
// ESM-only packages through their package.json "exports" and a file URL.

function nodeModulesDir(explicit) {
  const dir = explicit || process.env.MGITD_TEST_WEBHOOK_NODE_MODULES;
  if (!dir) {
    throw new UsageError(
      "MGITD_TEST_WEBHOOK_NODE_MODULES is not set (source scripts/lib/node-tools.sh and call " +
        "ensure_webhook_node_modules, or pass --node-modules DIR)",
    );
  }
  return dir;
}

// The file an ESM import of `name` would load: the first string reached in its "exports" map
// under the conditions node, import, default (then "module" and "main" for old packages).
function esmEntry(packageDir) {
  const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
  let target = manifest.exports;
  if (target && typeof target === "object" && "." in target) target = target["."];
  while (target && typeof target === "object") {
    const condition = ["node", "import", "default"].find((c) => c in target);
    if (!condition) break;
    target = target[condition];
  }
  if (typeof target !== "string") target = manifest.module || manifest.main || "index.js";
  return join(packageDir, target);
}

export async function loadPackages(explicitDir) {
  const dir = nodeModulesDir(explicitDir);
  const methodsDir = join(dir, "@octokit", "webhooks-methods");
  let methods;
  let examples;
  try {
    methods = await import(pathToFileURL(esmEntry(methodsDir)).href);
    examples = createRequire(join(dir, "noop.js"))("@octokit/webhooks-examples");
  } catch (error) {
    throw new UsageError(`cannot load the npm packages from ${dir}: ${error.message}`);
  }
  const version = (name) =>
    JSON.parse(readFileSync(join(dir, ...name.split("/"), "package.json"), "utf8")).version;
  return {
    sign: methods.sign,
    examples,
    versions: {
      "@octokit/webhooks-methods": version("@octokit/webhooks-methods"),
      "@octokit/webhooks-examples": version("@octokit/webhooks-examples"),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Options.

// Long options only; `--name value` or `--name=value`. `spec` maps a name to "string",
// "boolean" or "list" (repeatable string).
export function parseOptions(argv, spec) {
  const options = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument: ${arg}`);
    let name = arg.slice(2);
    let value;
    const eq = name.indexOf("=");
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const kind = spec[name];
    if (!kind) throw new UsageError(`unknown option: --${name}`);
    if (kind === "boolean") {
      if (value !== undefined) throw new UsageError(`--${name} takes no value`);
      options[name] = true;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      value = argv[++i];
    }
    if (kind === "list") (options[name] ??= []).push(value);
    else options[name] = value;
  }
  return options;
}

export function readSecret(file) {
  if (!file) throw new UsageError("--secret-file is required");
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read --secret-file: ${error.message}`);
  }
  const first = text.split(/\r?\n/, 1)[0];
  if (!first) throw new UsageError(`the first line of ${file} is empty`);
  return first;
}

// ---------------------------------------------------------------------------------------------
// Payloads: the provider's own examples, with only the fields a test controls rewritten.

const PROVIDERS = ["github", "gitlab", "gitea"];
const EVENTS = ["push", "tag", "delete", "ping"];

function readPayload(name) {
  return JSON.parse(readFileSync(join(HERE, "payloads", name), "utf8"));
}

// A deep copy of GitHub's example of `event` from @octokit/webhooks-examples.
function githubExample(examples, event, predicate) {
  const entry = examples.find((e) => e.name === event);
  const example = entry && entry.examples.find(predicate);
  if (!example) throw new Error(`@octokit/webhooks-examples has no matching ${event} example`);
  return structuredClone(example);
}

// Replaces `from` by `to` in every string below `node` (the URLs of a renamed repository).
function replaceInStrings(node, from, to) {
  if (!node || typeof node !== "object" || from === to || !from) return;
  for (const [key, value] of Object.entries(node)) {
    if (typeof value === "string") node[key] = value.split(from).join(to);
    else replaceInStrings(value, from, to);
  }
}

// Every URL field of the payload's repository a naive relay could clone or fetch from.
const CLONE_URL_FIELDS = {
  github: { repository: ["clone_url", "git_url", "ssh_url", "svn_url", "html_url", "url", "mirror_url"] },
  gitlab: {
    project: ["git_http_url", "git_ssh_url", "http_url", "ssh_url", "url", "web_url", "homepage"],
    repository: ["git_http_url", "git_ssh_url", "url", "homepage"],
  },
  gitea: { repository: ["clone_url", "ssh_url", "html_url", "original_url"] },
};

function overwriteCloneUrls(provider, payload, url) {
  for (const [object, fields] of Object.entries(CLONE_URL_FIELDS[provider])) {
    const target = payload[object];
    if (!target) continue;
    for (const field of fields) if (field in target) target[field] = url;
  }
}

function splitFullName(fullName, lastSlash) {
  const at = lastSlash ? fullName.lastIndexOf("/") : fullName.indexOf("/");
  if (at < 0) return { owner: undefined, name: fullName };
  return { owner: fullName.slice(0, at), name: fullName.slice(at + 1) };
}

function renameGithub(payload, fullName) {
  const repo = payload.repository;
  if (!repo) return;
  const { owner, name } = splitFullName(fullName, false);
  const oldOwner = repo.owner && repo.owner.login;
  replaceInStrings(repo, repo.full_name, fullName);
  repo.full_name = fullName;
  repo.name = name;
  if (owner !== undefined && repo.owner) {
    replaceInStrings(repo.owner, `/${oldOwner}`, `/${owner}`);
    repo.owner.login = owner;
    if ("name" in repo.owner) repo.owner.name = owner;
  }
}

function renameGitlab(payload, fullName) {
  const project = payload.project;
  if (!project) return;
  const { owner, name } = splitFullName(fullName, true);
  const old = project.path_with_namespace;
  replaceInStrings(project, old, fullName);
  replaceInStrings(payload.repository, old, fullName);
  project.path_with_namespace = fullName;
  project.name = name;
  if (owner !== undefined) project.namespace = owner;
  if (payload.repository) payload.repository.name = name;
}

function renameGitea(payload, fullName) {
  const repo = payload.repository;
  if (!repo) return;
  const { owner, name } = splitFullName(fullName, false);
  replaceInStrings(repo, repo.full_name, fullName);
  repo.full_name = fullName;
  repo.name = name;
  if (owner !== undefined && repo.owner) {
    repo.owner.login = owner;
    if ("username" in repo.owner) repo.owner.username = owner;
  }
}

// The example payload for provider/event, before the test's own fields are applied.
function basePayload(provider, event, examples) {
  if (provider === "github") {
    if (event === "ping") return githubExample(examples, "ping", (e) => e.hook && e.repository);
    if (event === "push")
      return githubExample(examples, "push", (e) => e.ref.startsWith("refs/heads/") && !e.deleted);
    if (event === "tag")
      return githubExample(examples, "push", (e) => e.ref.startsWith("refs/tags/") && !e.deleted);
    // delete: GitHub's example of a deleted ref (deleted: true, all-zero after), moved to the
    // branch of the branch push example.
    const branch = githubExample(examples, "push", (e) => e.ref.startsWith("refs/heads/") && !e.deleted);
    const payload = githubExample(examples, "push", (e) => e.deleted === true);
    payload.ref = branch.ref;
    return payload;
  }
  if (event === "ping") throw new UsageError("--event ping is GitHub's only");
  if (provider === "gitlab") {
    if (event === "tag") return readPayload("gitlab-tag-push.json");
    const payload = readPayload("gitlab-push.json");
    if (event === "delete") {
      // GitLab reports a deleted branch as a Push Hook with an all-zero after, no checkout
      // commit and no commits.
      payload.after = ZERO_OID;
      payload.checkout_sha = null;
      payload.commits = [];
      payload.total_commits_count = 0;
    }
    return payload;
  }
  // gitea: one documented example (a branch push).
  const payload = readPayload("gitea-push.json");
  if (event === "tag") {
    // Gitea reports a new tag as a push of refs/tags/NAME from the all-zero commit, with no
    // commits listed.
    payload.ref = "refs/tags/v1.0.0";
    payload.before = ZERO_OID;
    payload.commits = [];
  } else if (event === "delete") {
    payload.after = ZERO_OID;
    payload.commits = [];
  }
  return payload;
}

function checkProviderEvent(provider, event) {
  if (!PROVIDERS.includes(provider))
    throw new UsageError(`--provider must be one of ${PROVIDERS.join("|")}`);
  if (!EVENTS.includes(event)) throw new UsageError(`--event must be one of ${EVENTS.join("|")}`);
  if (event === "ping" && provider !== "github") throw new UsageError("--event ping is GitHub's only");
}

export function buildPayload({ provider, event, examples, repository, cloneUrl, ref, before, after }) {
  checkProviderEvent(provider, event);
  const payload = basePayload(provider, event, examples);
  if (repository !== undefined) {
    if (provider === "github") renameGithub(payload, repository);
    else if (provider === "gitlab") renameGitlab(payload, repository);
    else renameGitea(payload, repository);
  }
  if (cloneUrl !== undefined) overwriteCloneUrls(provider, payload, cloneUrl);
  if (event !== "ping") {
    if (ref !== undefined) payload.ref = ref;
    if (before !== undefined) payload.before = before;
    if (after !== undefined) {
      payload.after = after;
      if (provider === "gitlab" && after !== ZERO_OID) payload.checkout_sha = after;
    }
  }
  return payload;
}

// ---------------------------------------------------------------------------------------------
// Headers and signatures.

function hmacHex(algorithm, secret, bytes) {
  return createHmac(algorithm, secret).update(bytes).digest("hex");
}

// X-Hub-Signature-256 from GitHub's SDK. sign() takes a string; a body that is not valid UTF-8
// (or is empty, which sign() refuses) is signed over its bytes with node:crypto instead, the
// same HMAC-SHA256.
async function githubSignature256(sign, secret, body) {
  const text = body.toString("utf8");
  if (body.length > 0 && Buffer.from(text, "utf8").equals(body)) return sign(secret, text);
  return `sha256=${hmacHex("sha256", secret, body)}`;
}

const GITHUB_EVENT = { push: "push", tag: "push", delete: "push", ping: "ping" };
const GITLAB_EVENT = { push: "Push Hook", tag: "Tag Push Hook", delete: "Push Hook" };

// The headers the provider sends with this body, signed with `secret` unless !signed.
export async function providerHeaders({ provider, event, payload, body, secret, signed, delivery, sign }) {
  const headers = { "Content-Type": "application/json" };
  if (provider === "github") {
    // GitHub's documented delivery headers.
    headers["User-Agent"] = "GitHub-Hookshot/mgitd-test";
    headers["X-GitHub-Event"] = GITHUB_EVENT[event];
    headers["X-GitHub-Delivery"] = delivery;
    const hookId = payload && payload.hook_id;
    if (hookId !== undefined) headers["X-GitHub-Hook-ID"] = String(hookId);
    if (payload && payload.repository && payload.repository.id !== undefined) {
      headers["X-GitHub-Hook-Installation-Target-Type"] = "repository";
      headers["X-GitHub-Hook-Installation-Target-ID"] = String(payload.repository.id);
    }
    if (signed) {
      headers["X-Hub-Signature"] = `sha1=${hmacHex("sha1", secret, body)}`;
      headers["X-Hub-Signature-256"] = await githubSignature256(sign, secret, body);
    }
  } else if (provider === "gitlab") {
    // GitLab's documented request headers (the project hook events API shows them).
    let instance = "https://gitlab.example.com";
    try {
      if (payload && payload.project && payload.project.web_url)
        instance = new URL(payload.project.web_url).origin;
    } catch {
      // a --clone-url that is not a URL: keep the default
    }
    headers["User-Agent"] = "GitLab/17.1.0";
    headers["Idempotency-Key"] = delivery;
    headers["X-Gitlab-Event"] = GITLAB_EVENT[event];
    headers["X-Gitlab-Webhook-UUID"] = randomUUID();
    headers["X-Gitlab-Instance"] = instance;
    headers["X-Gitlab-Event-UUID"] = delivery;
    if (signed) headers["X-Gitlab-Token"] = secret;
  } else {
    // What Gitea's services/webhook/deliver.go sets: three header families, hex signatures.
    const name = "push";
    headers["User-Agent"] = "Go-http-client/1.1";
    headers["X-Gitea-Delivery"] = delivery;
    headers["X-Gitea-Event"] = name;
    headers["X-Gitea-Event-Type"] = name;
    headers["X-Gogs-Delivery"] = delivery;
    headers["X-Gogs-Event"] = name;
    headers["X-Gogs-Event-Type"] = name;
    headers["X-GitHub-Delivery"] = delivery;
    headers["X-GitHub-Event"] = name;
    headers["X-GitHub-Event-Type"] = name;
    if (signed) {
      const sha256 = hmacHex("sha256", secret, body);
      headers["X-Gitea-Signature"] = sha256;
      headers["X-Gogs-Signature"] = sha256;
      headers["X-Hub-Signature"] = `sha1=${hmacHex("sha1", secret, body)}`;
      headers["X-Hub-Signature-256"] = `sha256=${sha256}`;
    }
  }
  return headers;
}

// The secret a --bad-signature request is signed with: never the real one.
export function wrongSecret(secret) {
  return `not-${secret}-${randomUUID()}`;
}

// Applies --content-type, --omit-header and --header ("Name: value") to `headers`.
export function adjustHeaders(headers, { contentType, omit = [], extra = [] }) {
  const drop = (name) => {
    for (const key of Object.keys(headers)) if (key.toLowerCase() === name.toLowerCase()) delete headers[key];
  };
  if (contentType !== undefined) {
    drop("Content-Type");
    headers["Content-Type"] = contentType;
  }
  for (const name of omit) drop(name);
  for (const line of extra) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new UsageError(`--header needs "Name: value", got ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).trim();
    drop(name);
    headers[name] = line.slice(colon + 1).trim();
  }
  return headers;
}

// ---------------------------------------------------------------------------------------------
// Sending.

// One request. Never throws for HTTP or network failures: the outcome is in the result, with
// status 0 and `error` when no response arrived.
export async function send({ url, method = "POST", headers, body, timeoutMs = 30000 }) {
  const started = performance.now();
  try {
    const response = await fetch(url, {
      method,
      headers,
      body: method === "GET" || method === "HEAD" ? undefined : body,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    const result = {
      status: response.status,
      body: text,
      latency_ms: round(performance.now() - started),
    };
    const retryAfter = response.headers.get("retry-after");
    if (retryAfter !== null) result.retry_after = retryAfter;
    return result;
  } catch (error) {
    const cause = error.cause && (error.cause.code || error.cause.message);
    return {
      status: 0,
      body: "",
      latency_ms: round(performance.now() - started),
      error: cause ? `${error.message}: ${cause}` : error.message,
    };
  }
}

export function round(ms) {
  return Math.round(ms * 10) / 10;
}

// The whole request for one set of options (shared by both CLIs).
export async function prepareRequest(options, packages) {
  const provider = options.provider;
  const event = options.event ?? "push";
  const secret = readSecret(options["secret-file"]);
  const delivery = options.delivery ?? randomUUID();
  let payload = null;
  let body;
  if (options["body-file"] !== undefined) {
    try {
      body = readFileSync(options["body-file"]);
    } catch (error) {
      throw new UsageError(`cannot read --body-file: ${error.message}`);
    }
    checkProviderEvent(provider, event);
  } else {
    payload = buildPayload({
      provider,
      event,
      examples: packages.examples,
      repository: options.repository,
      cloneUrl: options["clone-url"],
      ref: options.ref,
      before: options.before,
      after: options.after,
    });
    body = Buffer.from(JSON.stringify(payload), "utf8");
  }
  const headers = await providerHeaders({
    provider,
    event,
    payload,
    body,
    secret: options["bad-signature"] ? wrongSecret(secret) : secret,
    signed: !options["no-signature"],
    delivery,
    sign: packages.sign,
  });
  adjustHeaders(headers, {
    contentType: options["content-type"],
    omit: options["omit-header"],
    extra: options.header,
  });
  return { headers, body, delivery };
}

/// Runs a CLI's async main: its number is the exit code; a UsageError exits 2 with the usage,
/// anything else 1 with the stack.
export function runMain(main, name, usage) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      if (error instanceof UsageError) {
        console.error(`${name}: ${error.message}\n${usage}`);
        process.exitCode = 2;
      } else {
        console.error(`${name}: ${error.stack || error}`);
        process.exitCode = 1;
      }
    },
  );
}
