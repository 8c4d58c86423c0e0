/** What `infergate` prints once it serves: the same lines whether one process serves or a supervisor's workers do. */
export interface BannerFacts {
  /** The address clients use, e.g. http://127.0.0.1:8080 (a wildcard bind shown as loopback). */
  readonly base: string;
  readonly file: string;
  /** More than 1: served by a supervisor's workers. */
  readonly workers: number;
  readonly simUrls: readonly string[];
  readonly models: readonly string[];
  /** The quick start's development token, when one was minted. */
  readonly token: string | null;
  readonly authOff: boolean;
}

export function bannerText(f: BannerFacts): string {
  const authHeader = f.authOff ? '' : ` -H "Authorization: Bearer $INFERGATE_TOKEN"`;
  const firstModel = f.models[0] ?? 'MODEL';
  return (
    [
      `infergate listening on ${f.base}/v1 (${f.workers > 1 ? `${f.workers} workers, ` : ''}config ${f.file})`,
      f.simUrls.length ? `  ${f.simUrls.length} simulated backend(s): ${f.simUrls.join(', ')}` : '',
      `  models: ${f.models.join(', ')}`,
      f.token ? `  development token (sub=dev, scopes "models:* admin", valid 24h):\n    export INFERGATE_TOKEN=${f.token}` : '',
      !f.authOff && !f.token ? '  authentication is on: export INFERGATE_TOKEN=<a token from one of your issuers>' : '',
      `  console: ${f.base}/console${f.authOff ? '' : ' (sign in with an admin token or key)'}`,
      `  try: curl ${f.base}/v1/chat/completions${authHeader} -H 'content-type: application/json' -d '{"model":"${firstModel}","messages":[{"role":"user","content":"Hello"}]}'`,
    ]
      .filter((l) => l !== '')
      .join('\n') + '\n'
  );
}

/** The address clients use for a bound host and port: a wildcard bind is shown as loopback. */
export function clientBase(host: string, port: number): string {
  if (host.includes(':')) return `http://[${host === '::' ? '::1' : host}]:${port}`;
  return `http://${host === '0.0.0.0' || host === '' ? '127.0.0.1' : host}:${port}`;
}
