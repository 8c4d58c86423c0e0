/**
 * The load generator's request: a streamed `/v1/completions` call with `max_tokens` and `ignore_eos` (so the output
 * length is exact), timed at the client. TTFT is the arrival of the first frame that carries generated text; the
 * usage block (asked for with `stream_options.include_usage`) gives the prompt, cached and completion tokens.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface Outcome {
  /** Real ms from send to the first text frame / to the end of the stream; NaN when it never came. */
  readonly ttftRealMs: number;
  readonly e2eRealMs: number;
  readonly status: number;
  readonly error: string | null;
  readonly promptTokens: number;
  readonly cachedTokens: number;
  readonly completionTokens: number;
  /** The gateway's own time before the response started (its `server-timing: gateway;dur=`), real ms; NaN if absent. */
  readonly gatewayRealMs: number;
}

export const agent = new Agent({ keepAlive: true, maxSockets: 1024 });

const TEXT_MARK = Buffer.from('"text":"');
const USAGE_MARK = '"usage":{';

export function streamCompletion(baseUrl: string, body: Buffer): Promise<Outcome> {
  const url = new URL('/v1/completions', baseUrl);
  return new Promise((resolve) => {
    const t0 = performance.now();
    let ttft = Number.NaN;
    let status = 0;
    let gatewayMs = Number.NaN;
    let tail = '';
    let lastUsage: string | null = null;
    let settled = false;
    const finish = (error: string | null): void => {
      if (settled) return;
      settled = true;
      let promptTokens = 0;
      let cachedTokens = 0;
      let completionTokens = 0;
      if (lastUsage) {
        try {
          const u = (JSON.parse(lastUsage) as { usage?: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } | null } }).usage;
          promptTokens = u?.prompt_tokens ?? 0;
          completionTokens = u?.completion_tokens ?? 0;
          cachedTokens = u?.prompt_tokens_details?.cached_tokens ?? 0;
        } catch {
          error ??= 'unparseable usage frame';
        }
      } else error ??= status === 200 ? 'no usage frame' : null;
      resolve({ ttftRealMs: ttft, e2eRealMs: performance.now() - t0, status, error, promptTokens, cachedTokens, completionTokens, gatewayRealMs: gatewayMs });
    };
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        status = res.statusCode ?? 0;
        const timing = res.headers['server-timing'];
        const m = typeof timing === 'string' ? /gateway;dur=([\d.]+)/.exec(timing) : null;
        if (m) gatewayMs = Number(m[1]);
        if (status !== 200) {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => finish(`HTTP ${status}: ${text.slice(0, 160)}`));
          res.on('error', (e) => finish(`HTTP ${status}: ${e.message}`));
          return;
        }
        res.on('data', (d: Buffer) => {
          if (Number.isNaN(ttft)) {
            // The first frame with a non-empty text is the first token.
            const i = d.indexOf(TEXT_MARK);
            if (i >= 0 && d[i + TEXT_MARK.length] !== 0x22) ttft = performance.now() - t0;
          }
          // Keep only what the usage frame needs: the tail of the stream (usage comes last, before [DONE]).
          tail = (tail + d.toString('latin1')).slice(-4096);
        });
        res.on('end', () => {
          const frames = tail.split('\n\n');
          for (let k = frames.length - 1; k >= 0; k--) {
            const f = (frames[k] ?? '').trim();
            if (f.startsWith('data: {') && f.includes(USAGE_MARK)) {
              lastUsage = f.slice(6);
              break;
            }
          }
          finish(Number.isNaN(ttft) ? 'no token received' : null);
        });
        res.on('error', (e) => finish(`stream: ${e.message}`));
      },
    );
    req.on('error', (e) => finish(`request: ${e.message}`));
    req.end(body);
  });
}

export function completionBody(model: string, prompt: string, maxTokens: number, user: string | null): Buffer {
  const b: Record<string, unknown> = {
    model,
    prompt,
    max_tokens: maxTokens,
    ignore_eos: true,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  };
  if (user !== null) b['user'] = user;
  return Buffer.from(JSON.stringify(b));
}
