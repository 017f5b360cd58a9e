#!/usr/bin/env node
// A stand-in for the repository-listing endpoints of GitHub, Gitea, GitLab, Azure DevOps and
// Bitbucket, for mgitctl discover's integration tests. NOT the real services: it serves the
// one listing operation per provider, from a fixture, over HTTPS on loopback. GitHub answers
// are validated against GitHub's published OpenAPI description before they are sent.
//
//   node standin-server.mjs --dir DIR [--fixture FILE] [--node-modules DIR] [--git-url URL]
//   node standin-server.mjs --self-check [--node-modules DIR]
//
// --dir: writes ca.pem (the throwaway CA that signed the server's certificate; for 127.0.0.1
// and localhost), origin (https://127.0.0.1:PORT), then prints the origin on stdout. Provider
// P's API base is ORIGIN/P (e.g. https://127.0.0.1:PORT/github). See README.md.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packageLoader } from './standin-common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const args = { fixture: path.join(here, 'fixture.json'), nodeModules: process.env.MGITD_TEST_DISCOVERY_NODE_MODULES, gitUrl: process.env.MGITD_TEST_GIT_URL };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
      return argv[++i];
    };
    switch (argv[i]) {
      case '--dir': args.dir = value(); break;
      case '--fixture': args.fixture = value(); break;
      case '--node-modules': args.nodeModules = value(); break;
      case '--git-url': args.gitUrl = value(); break;
      case '--self-check': args.selfCheck = true; break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  if (!args.nodeModules) throw new Error('--node-modules DIR (or MGITD_TEST_DISCOVERY_NODE_MODULES) is required');
  if (!args.selfCheck && !args.dir) throw new Error('--dir DIR is required');
  return args;
}

// Every providers/*.mjs module, keyed by its `name` (the URL path prefix).
async function loadProviders(requirePackage) {
  const providers = new Map();
  const dir = path.join(here, 'providers');
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.mjs')).sort()) {
    const mod = await import(pathToFileURL(path.join(dir, file)).href);
    for (const required of ['name', 'token', 'match', 'render']) {
      if (!(required in mod)) throw new Error(`providers/${file} does not export ${required}`);
    }
    if (mod.init) await mod.init({ requirePackage });
    providers.set(mod.name, mod);
  }
  return providers;
}

// A throwaway CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI.
function makeCertificates(dir) {
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=mgitd discovery stand-in CA',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
  fs.writeFileSync(path.join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-extfile', 'server.ext', '-out', 'server.pem');
}

// Rate-limit and server-error switches fire on the first page of a listing, once: the retry
// of that page is served, and the next listing is limited again (so every run sees one wait).
// A retry is a request within a few seconds after the limit's end; anything later (a test run
// again against the same stand-in, or a client that gave up) meets the switch afresh.
const fired = new Map();  // key -> when the switch fired (ms)
const kRetryWindowMs = 10_000;
function switchResponse(provider, orgName, org, listing) {
  const switches = org.switches || {};
  const key = (kind) => `${provider.name}/${orgName}/${kind}`;
  const once = (kind) => {
    if (listing.page !== 1) return false;
    const now = Date.now();
    const at = fired.get(key(kind));
    if (at !== undefined && now - at < kRetryWindowMs) {
      fired.delete(key(kind));
      return false;
    }
    fired.set(key(kind), now);
    return true;
  };
  if (switches.rate_limit && once('rate')) {
    const reset = Math.floor(Date.now() / 1000) + 2;
    const message = 'API rate limit exceeded (stand-in)';
    switch (switches.rate_limit) {
      case 'remaining-403':
        return { status: 403, headers: { 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '0', 'x-ratelimit-used': '60', 'x-ratelimit-reset': String(reset) }, message };
      case 'remaining-429':
        return { status: 429, headers: { 'ratelimit-limit': '60', 'ratelimit-remaining': '0', 'ratelimit-reset': String(reset) }, message };
      case 'retry-after-429':
        return { status: 429, headers: { 'retry-after': '1' }, message };
      default:
        throw new Error(`unknown rate_limit switch ${switches.rate_limit}`);
    }
  }
  if (switches.server_error && once('error')) {
    return { status: switches.server_error, headers: {}, message: 'stand-in server error' };
  }
  return null;
}

// Organisations "sync-<id>" exist without a fixture entry: three repositories
// "sync-<id>-one|two|three" whose clone URLs are {git}/sync-<id>-N.git, so an end-to-end test
// creates those repositories on the real git server under names of its own and syncs them.
function generatedOrg(name) {
  if (!/^sync-[a-z0-9][a-z0-9-]{0,60}$/.test(name)) return undefined;
  return {
    repos: ['one', 'two', 'three'].map((n) => ({
      name: `${name}-${n}`,
      clone_url: `{git}/${name}-${n}.git`,
      pushed_at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      default_branch: 'main',
    })),
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const requirePackage = packageLoader(args.nodeModules);
  const providers = await loadProviders(requirePackage);
  for (const p of providers.values()) if (p.selfCheck) p.selfCheck();
  if (args.selfCheck) {
    process.stderr.write(`stand-in self-check passed (${[...providers.keys()].join(', ')})\n`);
    return;
  }
  const fixture = JSON.parse(fs.readFileSync(args.fixture, 'utf8'));
  fs.mkdirSync(args.dir, { recursive: true });
  makeCertificates(args.dir);
  const gitBase = args.gitUrl ? args.gitUrl.replace(/\/+$/, '') : '';
  let origin = '';

  const send = (res, status, headers, body) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(text);
  };

  const handle = (req, res) => {
    const url = new URL(req.url, origin);
    const [, prefix, ...rest] = url.pathname.split('/');
    const provider = providers.get(prefix);
    const log = (status) => process.stderr.write(`stand-in: ${req.method} ${url.pathname}${url.search} -> ${status}\n`);
    if (!provider) { log(404); return send(res, 404, {}, { message: 'Not Found (no such stand-in provider)' }); }
    const errorBody = (status, message) => (provider.errorBody ? provider.errorBody(status, message) : { message });
    const listing = req.method === 'GET' ? provider.match(`/${rest.join('/')}`, url.searchParams) : null;
    if (!listing) { log(404); return send(res, 404, {}, errorBody(404, 'Not Found')); }
    if (provider.token(req.headers) !== fixture.token) {
      log(401);
      return send(res, 401, {}, errorBody(401, 'Bad credentials'));
    }
    const org = fixture.orgs[listing.org] || generatedOrg(listing.org);
    if (!org) { log(404); return send(res, 404, {}, errorBody(404, 'Not Found')); }
    const limited = switchResponse(provider, listing.org, org, listing);
    if (limited) { log(limited.status); return send(res, limited.status, limited.headers, errorBody(limited.status, limited.message)); }
    const response = provider.render({ listing, org, orgName: listing.org, base: `${origin}/${provider.name}`, gitBase, pageSize: fixture.page_size || 2, query: url.searchParams });
    const invalid = provider.validate ? provider.validate(response) : '';
    if (invalid) {
      // Loud: a test that passes against an answer the real API could not give proves nothing.
      process.stderr.write(`stand-in: INVALID ${provider.name} response for ${url.pathname}: ${invalid}\n`);
      log(500);
      return send(res, 500, {}, { message: `stand-in produced an invalid ${provider.name} response: ${invalid}` });
    }
    log(response.status);
    return send(res, response.status, response.headers, response.body);
  };

  const server = https.createServer({
    key: fs.readFileSync(path.join(args.dir, 'server.key')),
    cert: fs.readFileSync(path.join(args.dir, 'server.pem')),
  }, (req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      process.stderr.write(`stand-in: ${req.url}: ${e.stack}\n`);
      send(res, 500, {}, { message: 'stand-in crashed' });
    }
  });
  server.listen(0, '127.0.0.1', () => {
    origin = `https://127.0.0.1:${server.address().port}`;
    fs.writeFileSync(path.join(args.dir, 'origin.tmp'), `${origin}\n`);
    fs.renameSync(path.join(args.dir, 'origin.tmp'), path.join(args.dir, 'origin'));
    process.stdout.write(`${origin}\n`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  process.stderr.write(`stand-in: ${e.message}\n`);
  process.exit(1);
});
