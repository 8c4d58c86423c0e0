import { Writable } from 'node:stream';
import { createManualClock, createRequestCtx } from '../../src/core/index.js';
import type { RequestCtx } from '../../src/core/index.js';

export type ManualClock = ReturnType<typeof createManualClock>;

/** A writable that keeps each written chunk (pino writes one line per call). */
export function createSink(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { stream, lines };
}

let seq = 0;
/** A request started now on the manual clock, with the given fields filled in. */
export function newCtx(clock: ManualClock, fields: Partial<RequestCtx> = {}): RequestCtx {
  seq += 1;
  const ctx = createRequestCtx(`req_test${seq}`, clock.now(), clock.wallMs());
  return Object.assign(ctx, fields);
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition lines (enough for our own output: no escapes inside label values). */
export function parseSamples(body: string): Sample[] {
  const out: Sample[] = [];
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[pair[1] ?? ''] = pair[2] ?? '';
    out.push({ name: m[1] ?? '', labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample with this name whose labels include `labels`; throws when none or several match. */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${hits.length} samples match ${name} ${JSON.stringify(labels)}`);
  return hits[0]?.value ?? Number.NaN;
}
