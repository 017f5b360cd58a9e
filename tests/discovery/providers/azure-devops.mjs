// Azure DevOps: the projects of an organisation, then each project's Git repositories.
// - GET /{org}/_apis/projects?api-version=7.1&$top=N[&continuationToken=T]
//   (https://learn.microsoft.com/en-us/rest/api/azure/devops/core/projects/list?view=azure-devops-rest-7.1):
//   {count, value: [TeamProjectReference]}; when more projects remain, the
//   x-ms-continuationtoken response header carries the token for the next batch (here, as on
//   the service, the number of projects already returned).
// - GET /{org}/{project id}/_apis/git/repositories?api-version=7.1
//   (https://learn.microsoft.com/en-us/rest/api/azure/devops/git/repositories/list?view=azure-devops-rest-7.1):
//   {count, value: [GitRepository]}, not paged.
// Objects have the fields of those pages' sample responses (PROJECT_EXAMPLE, REPOSITORY_EXAMPLE
// below) plus the GitRepository fields the samples omit (sshUrl, isDisabled, isFork, the
// project's visibility), and every answer is checked against the samples' shape. Auth: HTTP
// Basic, any user name, the PAT as the password.
//
// Projects: each fixture repository is in the project named by its `project` field, else in a
// project of its own name, so the fixture's repositories page the project listing. The
// listing of a project's repositories counts as page 0 (the rate-limit and server-error
// switches fire on the organisation's first projects page only). link_off_origin has no
// equivalent: an Azure DevOps client builds every URL itself; the answers' `url` fields
// (which it ignores) point off-origin then.
import { cloneUrls, intParam, OFF_ORIGIN } from '../standin-common.mjs';
import { shapeErrors } from '../documented-shape.mjs';

export const name = 'azure-devops';

const PROJECT_EXAMPLE = {
  id: 'eb6e4656-77fc-42a1-9181-4c6d8e9da5d1',
  name: 'Fabrikam-Fiber-TFVC',
  description: 'Team Foundation Version Control projects.',
  url: 'https://dev.azure.com/fabrikam/_apis/projects/eb6e4656-77fc-42a1-9181-4c6d8e9da5d1',
  state: 'wellFormed',
};
const REPOSITORY_EXAMPLE = {
  id: '278d5cd2-584d-4b63-824a-2ba458937249',
  name: 'Fabrikam-Fiber-Git',
  url: 'https://dev.azure.com/fabrikam/_apis/git/repositories/278d5cd2-584d-4b63-824a-2ba458937249',
  project: {
    id: '6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c',
    name: 'Fabrikam-Fiber-Git',
    url: 'https://dev.azure.com/fabrikam/_apis/projects/6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c',
    state: 'wellFormed',
  },
  defaultBranch: 'refs/heads/master',
  remoteUrl: 'https://dev.azure.com/fabrikam/_git/Fabrikam-Fiber-Git',
};

export function token(headers) {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(headers.authorization || '');
  if (!m) return null;
  const plain = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = plain.indexOf(':');
  return colon < 0 ? null : plain.slice(colon + 1);
}

export function match(pathname, query) {
  if (query.get('api-version') !== '7.1') return null;
  let m = /^\/([^/]+)\/_apis\/projects$/.exec(pathname);
  if (m) {
    const token = query.get('continuationToken');
    return {
      org: decodeURIComponent(m[1]),
      kind: 'projects',
      top: intParam(query, '$top', 100),
      start: token === null ? 0 : /^[0-9]{1,6}$/.test(token) ? Number(token) : NaN,
      page: token === null ? 1 : 2,
    };
  }
  m = /^\/([^/]+)\/([0-9a-f-]{36})\/_apis\/git\/repositories$/.exec(pathname);
  if (m) return { org: decodeURIComponent(m[1]), kind: 'repositories', projectId: m[2], page: 0 };
  return null;
}

export function errorBody(status, message) {
  return {
    $id: '1',
    innerException: null,
    message: status === 401 ? 'TF400813: The user is not authorized to access this resource.' : message,
    typeName: 'Microsoft.TeamFoundation.Framework.Server.StandinException',
    typeKey: 'StandinException',
    errorCode: 0,
    eventId: 3000,
  };
}

// The organisation's projects in fixture order: { name, id, repos }.
function projectsOf(org) {
  const byName = new Map();
  for (const repo of org.repos) {
    const projectName = repo.project || repo.name;
    if (!byName.has(projectName)) {
      const n = byName.size + 1;
      const id = `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
      byName.set(projectName, { name: projectName, id, n, visibility: repo.visibility === 'public' ? 'public' : 'private', repos: [] });
    }
    byName.get(projectName).repos.push(repo);
  }
  return [...byName.values()];
}

function projectObject(project, orgName, apiBase) {
  return {
    id: project.id,
    name: project.name,
    description: `Stand-in project ${project.name}`,
    url: `${apiBase}/${encodeURIComponent(orgName)}/_apis/projects/${project.id}`,
    state: 'wellFormed',
    revision: 11,
    visibility: project.visibility,
    lastUpdateTime: '2024-01-01T00:00:00Z',
  };
}

function repositoryObject(repo, project, orgName, apiBase, gitBase, id) {
  const urls = cloneUrls(repo, orgName, gitBase);
  const body = {
    id,
    name: repo.name,
    url: `${apiBase}/${encodeURIComponent(orgName)}/_apis/git/repositories/${id}`,
    project: projectObject(project, orgName, apiBase),
    defaultBranch: `refs/heads/${repo.default_branch || 'main'}`,
    size: 4096,
    // The service names the organisation as the user: https://fabrikam@dev.azure.com/…
    remoteUrl: urls.https.replace('://', `://${orgName}@`),
    sshUrl: urls.ssh,
    webUrl: `https://dev.azure.standin.invalid/${orgName}/${project.name}/_git/${repo.name}`,
    isDisabled: Boolean(repo.archived),
    isInMaintenance: false,
  };
  if (repo.fork) body.isFork = true;
  return body;
}

export function render(ctx) {
  const { listing, org, orgName, base, gitBase } = ctx;
  const apiBase = org.switches?.link_off_origin ? OFF_ORIGIN : base;
  const projects = projectsOf(org);
  if (listing.kind === 'projects') {
    if (Number.isNaN(listing.top) || Number.isNaN(listing.start)) {
      return { status: 400, headers: {}, body: errorBody(400, 'invalid $top or continuationToken') };
    }
    const size = Math.min(listing.top, ctx.pageSize);
    const batch = projects.slice(listing.start, listing.start + size);
    const headers = {};
    if (listing.start + size < projects.length) headers['x-ms-continuationtoken'] = String(listing.start + size);
    const value = batch.map((p) => projectObject(p, orgName, apiBase));
    return { status: 200, headers, body: { count: value.length, value } };
  }
  const project = projects.find((p) => p.id === listing.projectId);
  if (!project) return { status: 404, headers: {}, body: errorBody(404, 'TF200016: The following project does not exist.') };
  const value = project.repos.map((repo, i) =>
    repositoryObject(repo, project, orgName, apiBase, gitBase,
      `10000000-0000-4000-8000-${(project.n * 1000 + i + 1).toString(16).padStart(12, '0')}`));
  return { status: 200, headers: {}, body: { count: value.length, value } };
}

export function validate(response) {
  if (response.status !== 200) return '';
  const value = response.body?.value;
  const example = Array.isArray(value) && value.length > 0 && 'remoteUrl' in value[0] ? REPOSITORY_EXAMPLE : PROJECT_EXAMPLE;
  return shapeErrors({ count: 3, value: [example] }, response.body).slice(0, 5).join('; ');
}

export function selfCheck() {
  const ok = (body) => validate({ status: 200, body }) === '';
  if (!ok({ count: 1, value: [PROJECT_EXAMPLE] })) throw new Error('the projects sample fails its shape');
  if (!ok({ count: 1, value: [REPOSITORY_EXAMPLE] })) throw new Error('the repositories sample fails its shape');
  const noRemote = { ...REPOSITORY_EXAMPLE, remoteUrl: undefined, defaultBranch: 1 };
  if (ok({ count: 1, value: [noRemote] })) throw new Error('a repository with a number defaultBranch was accepted');
  if (ok({ count: 1, value: [{ ...PROJECT_EXAMPLE, id: 7 }] })) throw new Error('a number project id was accepted');
  if (ok([PROJECT_EXAMPLE])) throw new Error('a bare array was accepted');
}
