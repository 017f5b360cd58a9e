// Gitea: GET /api/v1/orgs/{org}/repos?page=N&limit=M
// (https://docs.gitea.com/api/1.22/#tag/organization/operation/orgListRepos). The repository
// object follows the Repository model of Gitea's swagger (the fields Gitea 1.22 sends; the
// ones discovery reads are exact); pagination is a Link header plus X-Total-Count.
import { cloneUrls, intParam, linkHeader, OFF_ORIGIN, pageOf } from '../standin-common.mjs';

export const name = 'gitea';

export function token(headers) {
  const m = /^(?:token|Bearer) (.+)$/.exec(headers.authorization || '');
  return m ? m[1] : null;
}

export function match(pathname, query) {
  const m = /^\/api\/v1\/orgs\/([^/]+)\/repos$/.exec(pathname);
  if (!m) return null;
  return { org: decodeURIComponent(m[1]), page: intParam(query, 'page', 1), perPage: intParam(query, 'limit', 30) };
}

export function errorBody(status, message) {
  return { message, url: 'https://docs.gitea.com/api/1.22/' };
}

function repoObject(fixtureRepo, orgName, gitBase, id) {
  const full = `${orgName}/${fixtureRepo.name}`;
  const urls = cloneUrls(fixtureRepo, orgName, gitBase);
  const visibility = fixtureRepo.visibility || 'public';
  const when = fixtureRepo.pushed_at || '2024-01-01T00:00:00Z';
  return {
    id,
    owner: { id: 7, login: orgName, full_name: '', email: '', username: orgName },
    name: fixtureRepo.name,
    full_name: full,
    description: '',
    empty: false,
    private: visibility !== 'public',
    internal: visibility === 'internal',
    fork: Boolean(fixtureRepo.fork),
    template: false,
    parent: null,
    mirror: false,
    size: 42,
    html_url: `https://gitea.standin.invalid/${full}`,
    ssh_url: urls.ssh,
    clone_url: urls.https,
    original_url: '',
    website: '',
    stars_count: 0,
    forks_count: 0,
    watchers_count: 1,
    open_issues_count: 0,
    default_branch: fixtureRepo.default_branch || 'main',
    archived: Boolean(fixtureRepo.archived),
    created_at: '2023-01-01T00:00:00Z',
    updated_at: when,
    topics: fixtureRepo.topics || [],
  };
}

export function render(ctx) {
  const { listing, org, orgName, base, gitBase } = ctx;
  if (Number.isNaN(listing.page) || Number.isNaN(listing.perPage)) {
    return { status: 422, headers: {}, body: errorBody(422, 'invalid page or limit') };
  }
  const size = Math.min(listing.perPage, 50, ctx.pageSize);
  const { items, hasNext } = pageOf(org.repos, listing.page, size);
  const lastPage = Math.max(1, Math.ceil(org.repos.length / size));
  const pageUrl = (p) =>
    `${org.switches?.link_off_origin && p > 1 ? OFF_ORIGIN : base}/api/v1/orgs/${encodeURIComponent(orgName)}/repos?limit=${listing.perPage}&page=${p}`;
  const link = linkHeader({
    next: hasNext ? pageUrl(listing.page + 1) : null,
    last: hasNext ? pageUrl(lastPage) : null,
    first: listing.page > 1 ? pageUrl(1) : null,
    prev: listing.page > 1 ? pageUrl(listing.page - 1) : null,
  });
  const headers = { 'x-total-count': String(org.repos.length) };
  if (link) headers.link = link;
  const body = items.map((repo, i) => repoObject(repo, orgName, gitBase, 2000 + (listing.page - 1) * size + i));
  return { status: 200, headers, body };
}
