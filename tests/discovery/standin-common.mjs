// What the stand-in server and its provider modules share: loading the pinned npm packages,
// paging a fixture's repositories, and the clone URLs a fixture repository gets.
import { createRequire } from 'node:module';
import path from 'node:path';

// ESM ignores NODE_PATH: the packages live in .cache/ (scripts/lib/node-tools.sh), so they are
// loaded through a require() rooted in that node_modules directory.
export function packageLoader(nodeModules) {
  const require = createRequire(path.join(path.resolve(nodeModules), 'noop.js'));
  return (name) => require(name);
}

// Items [ (page-1)*size, page*size ) and whether a later page exists. `page` counts from 1.
export function pageOf(items, page, size) {
  const start = (page - 1) * size;
  return { items: items.slice(start, start + size), hasNext: start + size < items.length };
}

// A positive integer query parameter, or `fallback` when absent. NaN when malformed, so a
// module can answer 400 like the real API.
export function intParam(query, name, fallback) {
  const raw = query.get(name);
  if (raw === null) return fallback;
  return /^[0-9]{1,6}$/.test(raw) && Number(raw) > 0 ? Number(raw) : NaN;
}

// The clone URLs of fixture repository `repo` of organisation `org`: the fixture's own, or
// `{git}/{org}/{name}.git` where {git} is the real test git server ($MGITD_TEST_GIT_URL) when
// the server was given one. "{git}" inside a fixture URL is replaced the same way.
export function cloneUrls(fixtureRepo, orgName, gitBase) {
  const base = gitBase || 'https://git.standin.invalid';
  const expand = (url) => url.replaceAll('{git}', base);
  const https = fixtureRepo.clone_url
    ? expand(fixtureRepo.clone_url)
    : `${base}/${orgName}/${fixtureRepo.name}.git`;
  const ssh = fixtureRepo.ssh_url
    ? expand(fixtureRepo.ssh_url)
    : `git@git.standin.invalid:${orgName}/${fixtureRepo.name}.git`;
  return { https, ssh };
}

// An RFC 8288 Link header value from { next, last, first, prev } URLs (those present).
export function linkHeader(links) {
  return Object.entries(links)
    .filter(([, url]) => url)
    .map(([rel, url]) => `<${url}>; rel="${rel}"`)
    .join(', ');
}

// A URL on another origin, for the `link_off_origin` switch: a client that follows it would
// send its token there.
export const OFF_ORIGIN = 'https://attacker.standin.invalid';
