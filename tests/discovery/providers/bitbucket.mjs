// Bitbucket Cloud: GET /repositories/{workspace}?pagelen=N&page=P
// (https://developer.atlassian.com/cloud/bitbucket/rest/api-group-repositories/#api-repositories-workspace-get),
// the paginated envelope of https://developer.atlassian.com/cloud/bitbucket/rest/intro/#pagination
// ({pagelen, size, page, next, values}; `next` absent on the last page; pagelen at most 100).
// Repository objects have the fields of the documented repository object (EXAMPLE below) with
// the fixture's values written over them, and every answer is checked against that shape.
// Auth (https://developer.atlassian.com/cloud/bitbucket/rest/intro/#authentication): an access
// token as `Authorization: Bearer T`, or HTTP Basic `user:T` (app password / API token).
// Bitbucket has no archived flag and no topics: the fixture's `archived` and `topics` are not
// served. The https clone link names the caller (`standin-user@`), as the service does.
import { cloneUrls, intParam, OFF_ORIGIN, pageOf } from '../standin-common.mjs';
import { shapeErrors } from '../documented-shape.mjs';

export const name = 'bitbucket';

const EXAMPLE = {
  type: 'repository',
  full_name: 'atlassian_tutorial/geordi',
  name: 'Geordi',
  slug: 'geordi',
  uuid: '{85d08b4e-571d-44e9-a507-fa476535aa98}',
  scm: 'git',
  is_private: false,
  fork_policy: 'allow_forks',
  created_on: '2018-05-15T21:50:40.474335+00:00',
  updated_on: '2018-08-22T19:29:57.402497+00:00',
  mainbranch: { type: 'branch', name: 'main' },
  links: {
    self: { href: 'https://api.bitbucket.org/2.0/repositories/atlassian_tutorial/geordi' },
    html: { href: 'https://bitbucket.org/atlassian_tutorial/geordi' },
    clone: [{ name: 'https', href: 'https://alice@bitbucket.org/atlassian_tutorial/geordi.git' }],
  },
};
const ENVELOPE = { pagelen: 10, size: 1, page: 1, values: [EXAMPLE] };

export function token(headers) {
  const auth = headers.authorization || '';
  let m = /^Bearer (.+)$/.exec(auth);
  if (m) return m[1];
  m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(auth);
  if (!m) return null;
  const plain = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = plain.indexOf(':');
  return colon <= 0 ? null : plain.slice(colon + 1);
}

export function match(pathname, query) {
  const m = /^\/repositories\/([^/]+)$/.exec(pathname);
  if (!m) return null;
  return { org: decodeURIComponent(m[1]), page: intParam(query, 'page', 1), pagelen: intParam(query, 'pagelen', 10) };
}

export function errorBody(status, message) {
  return { type: 'error', error: { message: status === 401 ? 'Unauthorized' : message } };
}

function repositoryObject(repo, orgName, apiBase, gitBase, n) {
  const urls = cloneUrls(repo, orgName, gitBase);
  const slug = repo.name.toLowerCase();
  const body = {
    ...structuredClone(EXAMPLE),
    full_name: `${orgName}/${slug}`,
    name: repo.name,
    slug,
    uuid: `{00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}}`,
    is_private: (repo.visibility || 'public') !== 'public',
    created_on: '2023-01-01T00:00:00.000000+00:00',
    // A push updates updated_on (so do settings changes): what "pushed since" reads.
    updated_on: (repo.pushed_at || '2023-01-01T00:00:00Z').replace(/Z$/, '.000000+00:00'),
    mainbranch: { type: 'branch', name: repo.default_branch || 'main' },
    links: {
      self: { href: `${apiBase}/repositories/${orgName}/${slug}` },
      html: { href: `https://bitbucket.standin.invalid/${orgName}/${slug}` },
      clone: [
        { name: 'https', href: urls.https.replace('://', '://standin-user@') },
        { name: 'ssh', href: urls.ssh },
      ],
    },
  };
  if (repo.fork) body.parent = { type: 'repository', full_name: `upstream/${slug}`, name: repo.name };
  return body;
}

export function render(ctx) {
  const { listing, org, orgName, base, gitBase } = ctx;
  if (Number.isNaN(listing.page) || Number.isNaN(listing.pagelen) || listing.pagelen > 100) {
    return { status: 400, headers: {}, body: errorBody(400, 'Invalid pagelen') };
  }
  const size = Math.min(listing.pagelen, ctx.pageSize);
  const { items, hasNext } = pageOf(org.repos, listing.page, size);
  const body = { pagelen: size, size: org.repos.length, page: listing.page };
  if (hasNext) {
    const query = new URLSearchParams(ctx.query);
    query.set('page', String(listing.page + 1));
    body.next = `${org.switches?.link_off_origin ? OFF_ORIGIN : base}/repositories/${encodeURIComponent(orgName)}?${query}`;
  }
  body.values = items.map((repo, i) => repositoryObject(repo, orgName, base, gitBase, (listing.page - 1) * size + i + 1));
  return { status: 200, headers: {}, body };
}

export function validate(response) {
  if (response.status !== 200) return '';
  return shapeErrors(ENVELOPE, response.body).slice(0, 5).join('; ');
}

export function selfCheck() {
  const ok = (body) => validate({ status: 200, body }) === '';
  if (!ok(ENVELOPE)) throw new Error('the documented repository fails its shape');
  const noClone = structuredClone(ENVELOPE);
  delete noClone.values[0].links.clone;
  if (ok(noClone)) throw new Error('a repository without links.clone was accepted');
  if (ok({ ...ENVELOPE, values: [{ ...EXAMPLE, is_private: 'no' }] })) throw new Error('is_private: "no" was accepted');
  if (ok([EXAMPLE])) throw new Error('a bare array was accepted');
}
