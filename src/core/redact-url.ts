/**
 * A connection URL fit for a log line or a browser: the password of its userinfo (or a user name alone, a token written
 * there) and the value of every query
 * parameter that reads like a credential are masked; the rest is kept as written. ioredis, for one, reads options
 * from the query (`redis://host:6379/0?password=…`), so masking the userinfo alone leaked that form.
 */
const CREDENTIAL_PARAM = /pass|secret|token|auth|key|credential/i;
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * The userinfo's password, delimited as WHATWG URL (and so ioredis) reads it: the authority ends at the first `/`, `?`
 * or `#`, and the userinfo at the last `@` before that, so a password with a raw `@` (`redis://:p@ss@host`) is masked
 * whole.
 */
function maskPassword(url: string, mask: string): string {
  const scheme = SCHEME.exec(url);
  if (!scheme) return url;
  const start = scheme[0].length;
  let end = url.length;
  for (const ch of ['/', '?', '#']) {
    const i = url.indexOf(ch, start);
    if (i >= 0 && i < end) end = i;
  }
  const at = url.lastIndexOf('@', end - 1);
  if (at < start) return url;
  const colon = url.indexOf(':', start);
  // Userinfo without a password is a token written as the user name (`https://TOKEN@host`): masked whole.
  return colon >= 0 && colon < at ? `${url.slice(0, colon + 1)}${mask}${url.slice(at)}` : `${url.slice(0, start)}${mask}${url.slice(at)}`;
}

export function redactUrl(url: string, mask = '***'): string {
  let out = maskPassword(url, mask);
  const q = out.indexOf('?');
  if (q >= 0) {
    const hash = out.indexOf('#', q);
    const end = hash < 0 ? out.length : hash;
    const params = out
      .slice(q + 1, end)
      .split('&')
      .map((p) => {
        const eq = p.indexOf('=');
        return eq > 0 && CREDENTIAL_PARAM.test(p.slice(0, eq)) ? `${p.slice(0, eq + 1)}${mask}` : p;
      });
    out = `${out.slice(0, q + 1)}${params.join('&')}${out.slice(end)}`;
  }
  return out;
}
