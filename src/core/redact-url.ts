/**
 * A connection URL fit for a log line or a browser: the password of its userinfo and the value of every query
 * parameter that reads like a credential are masked; the rest is kept as written. ioredis, for one, reads options
 * from the query (`redis://host:6379/0?password=…`), so masking the userinfo alone leaked that form.
 */
const CREDENTIAL_PARAM = /pass|secret|token|auth|key|credential/i;
const USERINFO_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/@:?#]*):[^/@?#]*@/i;

export function redactUrl(url: string, mask = '***'): string {
  let out = url.replace(USERINFO_PASSWORD, `$1:${mask}@`);
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
