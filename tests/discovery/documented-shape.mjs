// The providers without a machine-readable API description (GitLab, Azure DevOps, Bitbucket)
// are checked against their documentation's example answers instead: every field of the
// example must be present in the stand-in's answer with the same JSON type (null where the
// documentation allows null), recursively. Extra fields are allowed. A drift from the
// documented shape is a loud 500 (the module's validate()), not a passing test.

function kind(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

// Differences of `actual` from `example`, as "path: problem" strings. `nullable` lists the
// paths (e.g. "default_branch") the documentation allows to be null besides its example.
export function shapeErrors(example, actual, path = '', nullable = new Set()) {
  const errors = [];
  const want = kind(example);
  const got = kind(actual);
  if (want !== got) {
    const allowNull = (got === 'null' && nullable.has(path)) || want === 'null';
    if (!allowNull) errors.push(`${path || '/'}: ${got} where the documentation has ${want}`);
    return errors;
  }
  if (want === 'object') {
    for (const key of Object.keys(example)) {
      const sub = path ? `${path}.${key}` : key;
      if (!(key in actual)) {
        errors.push(`${sub}: missing (the documented example has it)`);
        continue;
      }
      errors.push(...shapeErrors(example[key], actual[key], sub, nullable));
    }
  } else if (want === 'array' && example.length > 0) {
    actual.forEach((item, i) => errors.push(...shapeErrors(example[0], item, `${path}[]`, nullable)));
  }
  return errors.filter((e, i, all) => all.indexOf(e) === i);
}
