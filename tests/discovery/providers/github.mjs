// GitHub: GET /orgs/{org}/repos (https://docs.github.com/en/rest/repos/repos#list-organization-repositories).
// Every repository object starts as the example GitHub's OpenAPI description gives for this
// operation (@octokit/openapi, api.github.com.deref.json) with the fixture's values written
// over it, and every 200 body is validated against that operation's response schema.
import { cloneUrls, intParam, linkHeader, OFF_ORIGIN, pageOf } from '../standin-common.mjs';

export const name = 'github';

let validateBody = null;
let exampleRepo = null;

function operation(spec) {
  return spec.paths['/orgs/{org}/repos'].get.responses['200'].content['application/json'];
}

export function init({ requirePackage }) {
  const Ajv = requirePackage('ajv');
  const addFormats = requirePackage('ajv-formats');
  // The dereferenced description: every $ref already resolved by the package's generator.
  const spec = requirePackage('@octokit/openapi/generated/api.github.com.deref.json');
  const content = operation(spec);
  // strict: false because OpenAPI schemas carry keywords JSON Schema does not know
  // (example, deprecated, x-github…); `nullable` is an OpenAPI keyword Ajv 8 implements.
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  validateBody = ajv.compile(content.schema);
  exampleRepo = content.examples.default.value[0];
}

// Errors of `body` against the response schema, as text; empty when valid.
export function validate(response) {
  if (response.status !== 200) return '';
  if (validateBody(response.body)) return '';
  return validateBody.errors
    .slice(0, 5)
    .map((e) => `${e.instancePath || '/'} ${e.message}`)
    .join('; ');
}

// Proves the validator rejects what it must: a repository without full_name, a non-boolean
// fork, a number where a nullable string is allowed; and accepts GitHub's own example and a
// null description (OpenAPI `nullable`).
export function selfCheck() {
  const ok = (body) => validate({ status: 200, body }) === '';
  const clone = () => JSON.parse(JSON.stringify(exampleRepo));
  if (!ok([clone()])) throw new Error(`GitHub's own example fails: ${validate({ status: 200, body: [clone()] })}`);
  const nullDescription = clone();
  nullDescription.description = null;
  if (!ok([nullDescription])) throw new Error('nullable description rejected');
  const noName = clone();
  delete noName.full_name;
  if (ok([noName])) throw new Error('a repository without full_name was accepted');
  const badFork = clone();
  badFork.fork = 'no';
  if (ok([badFork])) throw new Error('fork: "no" was accepted');
  const badDescription = clone();
  badDescription.description = 5;
  if (ok([badDescription])) throw new Error('description: 5 was accepted');
  if (ok({ items: [] })) throw new Error('a non-array body was accepted');
}

export function token(headers) {
  const m = /^(?:Bearer|token) (.+)$/.exec(headers.authorization || '');
  return m ? m[1] : null;
}

export function match(pathname, query) {
  const m = /^\/orgs\/([^/]+)\/repos$/.exec(pathname);
  if (!m) return null;
  return { org: decodeURIComponent(m[1]), page: intParam(query, 'page', 1), perPage: intParam(query, 'per_page', 30) };
}

export function errorBody(status, message) {
  return { message, documentation_url: 'https://docs.github.com/rest', status: String(status) };
}

function repoObject(fixtureRepo, orgName, gitBase, base, id) {
  const r = JSON.parse(JSON.stringify(exampleRepo));
  const full = `${orgName}/${fixtureRepo.name}`;
  const urls = cloneUrls(fixtureRepo, orgName, gitBase);
  const visibility = fixtureRepo.visibility || 'public';
  Object.assign(r, {
    id,
    node_id: Buffer.from(`010:Repository${id}`).toString('base64'),
    name: fixtureRepo.name,
    full_name: full,
    private: visibility !== 'public',
    visibility,
    fork: Boolean(fixtureRepo.fork),
    archived: Boolean(fixtureRepo.archived),
    topics: fixtureRepo.topics || [],
    default_branch: fixtureRepo.default_branch || 'main',
    pushed_at: fixtureRepo.pushed_at ?? null,
    clone_url: urls.https,
    ssh_url: urls.ssh,
    url: `${base}/repos/${full}`,
    html_url: `https://github.standin.invalid/${full}`,
  });
  r.owner = { ...r.owner, login: orgName, type: 'Organization' };
  return r;
}

// `ctx`: { listing, org (fixture entry), orgName, base, gitBase, query }.
export function render(ctx) {
  const { listing, org, orgName, base, gitBase } = ctx;
  if (Number.isNaN(listing.page) || Number.isNaN(listing.perPage)) {
    return { status: 400, headers: {}, body: errorBody(400, 'Bad page or per_page') };
  }
  // GitHub caps per_page at 100; the fixture's page_size makes pages small enough that a few
  // repositories span several pages.
  const size = Math.min(listing.perPage, 100, ctx.pageSize);
  const { items, hasNext } = pageOf(org.repos, listing.page, size);
  const lastPage = Math.max(1, Math.ceil(org.repos.length / size));
  const pageUrl = (p) =>
    `${org.switches?.link_off_origin && p > 1 ? OFF_ORIGIN : base}/orgs/${encodeURIComponent(orgName)}/repos?per_page=${listing.perPage}&type=all&page=${p}`;
  const link = linkHeader({
    prev: listing.page > 1 ? pageUrl(listing.page - 1) : null,
    next: hasNext ? pageUrl(listing.page + 1) : null,
    last: hasNext ? pageUrl(lastPage) : null,
    first: listing.page > 1 ? pageUrl(1) : null,
  });
  const body = items.map((repo, i) => repoObject(repo, orgName, gitBase, base, 1000 + (listing.page - 1) * size + i));
  const headers = { 'x-github-api-version-selected': '2022-11-28' };
  if (link) headers.link = link;
  return { status: 200, headers, body };
}
