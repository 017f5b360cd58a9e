// GitLab: GET /groups/:id/projects?include_subgroups=true&per_page=N&page=P
// (https://docs.gitlab.com/api/groups/#list-projects), `:id` the URL-encoded full path of the
// group (a nested group `acme/sub` arrives as `acme%2Fsub`). Offset pagination as documented
// at https://docs.gitlab.com/api/rest/#pagination-link-header: X-Page, X-Per-Page,
// X-Next-Page (empty on the last page), X-Prev-Page, X-Total, X-Total-Pages and a Link
// header. Every project object has the fields of the example response on the groups page
// (EXAMPLE below, copied from it) with the fixture's values written over them, and every
// answer is checked against that example's shape. Tokens: PRIVATE-TOKEN or
// Authorization: Bearer (https://docs.gitlab.com/api/rest/authentication/).
//
// link_off_origin: the Link header's next points off-origin. A GitLab client builds the next
// URL from X-Next-Page (a number) on its own request URL, so it never follows it.
import { cloneUrls, intParam, linkHeader, OFF_ORIGIN, pageOf } from '../standin-common.mjs';
import { shapeErrors } from '../documented-shape.mjs';

export const name = 'gitlab';

// The example response of "List a group's projects" (https://docs.gitlab.com/api/groups/#list-projects).
const EXAMPLE = {
  id: 9,
  description: 'foo',
  default_branch: 'main',
  tag_list: [],
  topics: [],
  archived: false,
  visibility: 'internal',
  ssh_url_to_repo: 'git@gitlab.example.com/html5-boilerplate.git',
  http_url_to_repo: 'http://gitlab.example.com/h5bp/html5-boilerplate.git',
  web_url: 'http://gitlab.example.com/h5bp/html5-boilerplate',
  name: 'Html5 Boilerplate',
  name_with_namespace: 'Experimental / Html5 Boilerplate',
  path: 'html5-boilerplate',
  path_with_namespace: 'h5bp/html5-boilerplate',
  issues_enabled: true,
  merge_requests_enabled: true,
  wiki_enabled: true,
  jobs_enabled: true,
  snippets_enabled: true,
  created_at: '2016-04-05T21:40:50.169Z',
  last_activity_at: '2016-04-06T16:52:08.432Z',
  shared_runners_enabled: true,
  creator_id: 1,
  namespace: { id: 5, name: 'Experimental', path: 'h5bp', kind: 'group' },
  avatar_url: null,
  star_count: 1,
  forks_count: 0,
  open_issues_count: 3,
  public_jobs: true,
  shared_with_groups: [],
  request_access_enabled: false,
};
// "default_branch" is null for a project without commits (projects API).
const NULLABLE = new Set(['[].default_branch']);

export function token(headers) {
  if (headers['private-token']) return headers['private-token'];
  const m = /^Bearer (.+)$/.exec(headers.authorization || '');
  return m ? m[1] : null;
}

export function match(pathname, query) {
  const m = /^\/groups\/([^/]+)\/projects$/.exec(pathname);
  if (!m) return null;
  return {
    org: decodeURIComponent(m[1]),
    page: intParam(query, 'page', 1),
    perPage: intParam(query, 'per_page', 20),
    subgroups: query.get('include_subgroups') === 'true',
  };
}

export function errorBody(status, message) {
  const text = { 401: '401 Unauthorized', 404: '404 Group Not Found' }[status] || message;
  return { message: text };
}

function project(fixtureRepo, orgName, gitBase, id) {
  const urls = cloneUrls(fixtureRepo, orgName, gitBase);
  const topics = fixtureRepo.topics || [];
  const group = orgName.split('/').pop();
  const body = {
    ...structuredClone(EXAMPLE),
    id,
    description: `Stand-in project ${fixtureRepo.name}`,
    default_branch: fixtureRepo.default_branch || 'main',
    tag_list: topics,
    topics,
    archived: Boolean(fixtureRepo.archived),
    visibility: fixtureRepo.visibility || 'public',
    ssh_url_to_repo: urls.ssh,
    http_url_to_repo: urls.https,
    web_url: `https://gitlab.standin.invalid/${orgName}/${fixtureRepo.name}`,
    name: fixtureRepo.name,
    name_with_namespace: `${group} / ${fixtureRepo.name}`,
    path: fixtureRepo.name,
    // A fixture repository may sit in a subgroup: two subgroups can hold the same project name.
    path_with_namespace: fixtureRepo.subgroup
      ? `${orgName}/${fixtureRepo.subgroup}/${fixtureRepo.name}`
      : `${orgName}/${fixtureRepo.name}`,
    created_at: '2023-01-01T00:00:00.000Z',
    // GitLab has no push time; last activity (pushes, issues, merge requests) stands in.
    last_activity_at: fixtureRepo.pushed_at || '2023-01-01T00:00:00.000Z',
    namespace: { id: 5, name: group, path: group, kind: 'group' },
  };
  if (fixtureRepo.fork) {
    body.forked_from_project = {
      id: 1,
      name: fixtureRepo.name,
      path: fixtureRepo.name,
      path_with_namespace: `upstream/${fixtureRepo.name}`,
    };
  }
  return body;
}

export function render(ctx) {
  const { listing, org, orgName, base, gitBase } = ctx;
  if (Number.isNaN(listing.page) || Number.isNaN(listing.perPage)) {
    return { status: 400, headers: {}, body: { error: 'page or per_page is invalid' } };
  }
  const size = Math.min(listing.perPage, 100, ctx.pageSize);
  const { items, hasNext } = pageOf(org.repos, listing.page, size);
  const totalPages = Math.max(1, Math.ceil(org.repos.length / size));
  const pageUrl = (p) => {
    const query = new URLSearchParams(ctx.query);
    query.set('page', String(p));
    return `${org.switches?.link_off_origin ? OFF_ORIGIN : base}/groups/${encodeURIComponent(orgName)}/projects?${query}`;
  };
  const headers = {
    'x-page': String(listing.page),
    'x-per-page': String(size),
    'x-next-page': hasNext ? String(listing.page + 1) : '',
    'x-prev-page': listing.page > 1 ? String(listing.page - 1) : '',
    'x-total': String(org.repos.length),
    'x-total-pages': String(totalPages),
    link: linkHeader({
      prev: listing.page > 1 ? pageUrl(listing.page - 1) : null,
      next: hasNext ? pageUrl(listing.page + 1) : null,
      first: pageUrl(1),
      last: pageUrl(totalPages),
    }),
  };
  const body = items.map((repo, i) => project(repo, orgName, gitBase, 100 + (listing.page - 1) * size + i));
  return { status: 200, headers, body };
}

export function validate(response) {
  if (response.status !== 200) return '';
  return shapeErrors([EXAMPLE], response.body, '', NULLABLE).slice(0, 5).join('; ');
}

export function selfCheck() {
  const ok = (body) => validate({ status: 200, body }) === '';
  if (!ok([EXAMPLE])) throw new Error('GitLab\'s own example fails its shape');
  const missing = structuredClone(EXAMPLE);
  delete missing.path_with_namespace;
  if (ok([missing])) throw new Error('a project without path_with_namespace was accepted');
  if (ok([{ ...EXAMPLE, archived: 'no' }])) throw new Error('archived: "no" was accepted');
  if (ok({ items: [] })) throw new Error('a non-array body was accepted');
  if (!ok([{ ...EXAMPLE, default_branch: null }])) throw new Error('default_branch null rejected');
}
