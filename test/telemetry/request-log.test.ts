import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createManualClock } from '../../src/core/index.js';
import type { RequestCtx } from '../../src/core/index.js';
import { createTelemetry } from '../../src/telemetry/index.js';
import { requestLogLine } from '../../src/telemetry/request-log.js';
import type { LogOptions, RequestSpan, Telemetry } from '../../src/telemetry/index.js';
import { createSink, newCtx } from './fixtures.js';

function setup(log: LogOptions = {}) {
  const clock = createManualClock(5000);
  const sink = createSink();
  const telemetry: Telemetry = createTelemetry({
    tracing: false,
    metrics: false,
    clock,
    log: { destination: sink.stream, ...log },
  });
  return { telemetry, clock, lines: sink.lines };
}

test('writes one JSON line per request with ids, model, backend, tokens and timings', () => {
  const { telemetry: t, clock, lines } = setup();
  const ctx = newCtx(clock, {
    endpoint: 'chat',
    principal: { subject: 'user-42', team: 'search', scopes: new Set(['chat']) },
    requestedModel: 'llama',
    upstreamModel: 'meta-llama/Llama-3-8B',
    backendId: 'http://10.0.0.5:8000',
    stream: true,
    attempts: 2,
    usage: { promptTokens: 120, completionTokens: 30, cachedTokens: 64, source: 'backend' },
    upstreamMs: 240.5,
  });
  ctx.firstByteMs = ctx.startMs + 42.123;
  ctx.endMs = ctx.startMs + 250.456;
  t.endRequest(ctx, null);

  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
  assert.equal(line.msg, 'request');
  assert.equal(line.level, 30);
  assert.equal(line.name, 'infergate');
  assert.equal(line.request_id, ctx.id);
  assert.equal(line.subject, 'user-42');
  assert.equal(line.team, 'search');
  assert.equal(line.endpoint, 'chat');
  assert.equal(line.model, 'llama');
  assert.equal(line.upstream_model, 'meta-llama/Llama-3-8B');
  assert.equal(line.backend, 'http://10.0.0.5:8000');
  assert.equal(line.stream, true);
  assert.equal(line.status, 200);
  assert.equal(line.error_code, null);
  assert.equal(line.outcome, 'success');
  assert.equal(line.prompt_tokens, 120);
  assert.equal(line.completion_tokens, 30);
  assert.equal(line.cached_tokens, 64);
  assert.equal(line.ttft_ms, 42.12);
  assert.equal(line.latency_ms, 250.46);
  assert.equal(line.upstream_ms, 240.5);
  assert.equal(line.attempts, 2);
  assert.equal(line.trace_id, null);
});

test('the request line carries no prompt text, scopes or credentials', () => {
  const { telemetry: t, clock, lines } = setup();
  // Whatever the pipeline stuffs onto the context object, only the whitelisted fields are written.
  const ctx = Object.assign(newCtx(clock, { endpoint: 'chat', requestedModel: 'llama' }), {
    prompt: 'tell me the launch codes',
    authorization: 'Bearer eyJsecret',
  });
  ctx.principal = { subject: 'u', team: null, scopes: new Set(['admin:secret-scope']) };
  ctx.endMs = ctx.startMs + 1;
  t.endRequest(ctx, null);
  const raw = lines[0] ?? '';
  assert.doesNotThrow(() => JSON.parse(raw));
  for (const secret of ['launch codes', 'eyJsecret', 'secret-scope', 'messages', 'prompt"']) assert.ok(!raw.includes(secret), secret);
});

test('logs upstream failures at warn and gateway faults at error', () => {
  const { telemetry: t, clock, lines } = setup();
  for (const [status, errorCode] of [[502, 'upstream_error'], [500, 'internal'], [429, 'rate_limited']] as const) {
    const ctx = newCtx(clock, { status, errorCode, outcome: status === 429 ? 'rate_limited' : 'upstream_error' });
    t.endRequest(ctx, null);
  }
  const levels = lines.map((l) => (JSON.parse(l) as { level: number }).level);
  assert.deepEqual(levels, [40, 50, 30]);
});

test('a quieter level drops request lines but keeps warnings', () => {
  const { telemetry: t, clock, lines } = setup({ level: 'warn' });
  t.endRequest(newCtx(clock), null);
  t.endRequest(newCtx(clock, { status: 503, errorCode: 'no_healthy_backend', outcome: 'upstream_error' }), null);
  assert.equal(lines.length, 1);
  assert.equal((JSON.parse(lines[0] ?? '') as { status: number }).status, 503);
});

test('redacts secrets that reach the general logger', () => {
  const { telemetry: t, lines } = setup();
  t.logger.info({ config: { apiKey: 'sk-live-123', url: 'http://b' }, headers: { authorization: 'Bearer x' } }, 'config loaded');
  const raw = lines[0] ?? '';
  assert.ok(!raw.includes('sk-live-123'));
  assert.ok(!raw.includes('Bearer x'));
  assert.match(raw, /"url":"http:\/\/b"/);
});

test('falls back to JSON with a warning when pretty printing is asked for without pino-pretty', () => {
  const { lines } = setup({ pretty: true });
  // pino-pretty is not a dependency; if it ever becomes one this test documents the switch.
  const first = JSON.parse(lines[0] ?? '') as { level: number; msg: string };
  assert.equal(first.level, 40);
  assert.match(first.msg, /pino-pretty/);
});

test('setLogLevel applies to request lines and general logs alike', () => {
  const { telemetry: t, clock, lines } = setup();
  t.setLogLevel('error');
  t.endRequest(newCtx(clock), null);
  t.logger.warn('quiet');
  assert.equal(lines.length, 0);
  t.setLogLevel('info');
  t.endRequest(newCtx(clock), null);
  t.logger.info('loud');
  assert.equal(lines.length, 2);
});

/** Contexts that exercise every field of the hand-built line, and the part kept from line to line. */
const LINE_VARIANTS: Partial<RequestCtx>[] = [
  {},
  { endpoint: 'chat', requestedModel: 'llama', upstreamModel: 'meta/Llama "3"', backendId: 'http://b:1', stream: true, attempts: 3 },
  { principal: { subject: 'ü-ser \\ "quoted"\n', team: 'équipe', keyId: 'k7x2m9q4ab', scopes: new Set() }, upstreamMs: 0.004999 },
  { usage: { promptTokens: 1, completionTokens: 0, cachedTokens: 0, source: 'estimated' }, status: 502, errorCode: 'upstream_error', outcome: 'upstream_error' },
  { requestedModel: 'x'.repeat(300), upstreamMs: 12345.675, status: 500, errorCode: 'internal', outcome: 'upstream_error' },
  // Runs of lines from one caller to one route (the part kept from line to line), then one field changed at a time.
  { endpoint: 'chat', requestedModel: 'llama', backendId: 'http://b:1', principal: { subject: 'ann', team: 't', keyId: 'k1', scopes: new Set() } },
  { endpoint: 'chat', requestedModel: 'llama', backendId: 'http://b:1', principal: { subject: 'ann', team: 't', keyId: 'k1', scopes: new Set() }, status: 429 },
  { endpoint: 'chat', requestedModel: 'llama', backendId: 'http://b:1', principal: { subject: 'ann', team: 't', keyId: 'k2', scopes: new Set() } },
  { endpoint: 'chat', requestedModel: 'llama', backendId: 'http://b:1', principal: { subject: 'ann', team: null, keyId: 'k2', scopes: new Set() } },
  { endpoint: 'chat', requestedModel: 'llama', backendId: 'http://b:2', principal: { subject: 'ann', team: null, keyId: 'k2', scopes: new Set() } },
  { endpoint: 'embeddings', requestedModel: 'llama', backendId: 'http://b:2', principal: { subject: 'ann', team: null, keyId: 'k2', scopes: new Set() } },
  { endpoint: 'embeddings', requestedModel: 'llama', upstreamModel: 'up', backendId: 'http://b:2', principal: { subject: 'ann', team: null, keyId: 'k2', scopes: new Set() } },
  // Ids a client chose (JSON escapes, non-ASCII), large counts, and a line longer than a whole batch.
  { id: 'req "7" \\ ü\u0001', usage: { promptTokens: 2 ** 31 - 1, completionTokens: 1234567, cachedTokens: 10, source: 'backend' }, attempts: 12 },
  { principal: { subject: 's'.repeat(70_000), team: null, keyId: null, scopes: new Set() } },
];

/** Sends every variant through `t` and returns the lines the generic serialiser gives for them. */
function sendVariants(t: Telemetry, clock: ReturnType<typeof createManualClock>): string[] {
  const expected: string[] = [];
  for (const [i, fields] of LINE_VARIANTS.entries()) {
    const ctx = newCtx(clock, fields);
    if (i % 2 === 1) ctx.firstByteMs = ctx.startMs + 3.14159;
    ctx.endMs = ctx.startMs + ([0, 1.005, 250.456, 99999.999, -0.3][i] ?? i * 1.5);
    // Every third line is traced (tracing is off here: the span is only where the line reads its trace id from).
    const traceId = i % 3 === 2 ? `0af7651916cd43dd8448eb211c8031${String(i).padStart(2, '0')}` : null;
    t.endRequest(ctx, traceId === null ? null : ({ traceId } as unknown as RequestSpan));
    expected.push(JSON.stringify(requestLogLine(ctx, ctx.endMs, traceId)));
  }
  return expected;
}

function assertSameLines(lines: string[], expected: string[]): void {
  assert.equal(lines.length, expected.length);
  for (const [i, line] of lines.entries()) {
    const head = JSON.parse(line) as { level: number; time: number };
    const bindings = `"pid":${process.pid},"hostname":${JSON.stringify(hostname())},"name":"infergate"`;
    assert.equal(line, `{"level":${head.level},"time":${head.time},${bindings},${expected[i]!.slice(1, -1)},"msg":"request"}`);
  }
}

test('the hand-built line is, byte for byte, pino\'s line for requestLogLine', () => {
  const { telemetry: t, clock, lines } = setup();
  const expected = sendVariants(t, clock);
  assertSameLines(lines.map((l) => l.replace(/\n$/, '')), expected);
});

test('written in place into a file descriptor\'s batch, the line is the same, byte for byte', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'infergate-log-'));
  try {
    const path = join(dir, 'log.jsonl');
    const fd = openSync(path, 'w');
    const clock = createManualClock(5000);
    const t = createTelemetry({ tracing: false, metrics: false, clock, log: { destination: fd } });
    const expected = sendVariants(t, clock);
    await t.shutdown();
    closeSync(fd);
    assertSameLines(readFileSync(path, 'utf8').split('\n').filter((l) => l !== ''), expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A telemetry writing to a real file descriptor, as `npm start` writes to stdout. */
function fileSetup(dir: string) {
  const path = join(dir, 'log.jsonl');
  const fd = openSync(path, 'w');
  const clock = createManualClock(5000);
  const telemetry = createTelemetry({ tracing: false, metrics: false, clock, log: { destination: fd } });
  const read = () => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { msg: string; request_id?: string });
  return { telemetry, clock, read, close: () => closeSync(fd) };
}

test('lines written to a file descriptor keep their order and all arrive, long ones included', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'infergate-log-'));
  try {
    const { telemetry: t, clock, read, close } = fileSetup(dir);
    const want: string[] = [];
    for (let i = 0; i < 500; i++) {
      if (i % 50 === 7) {
        // General lines go through the same batch; one of them longer than a whole batch.
        const msg = i === 257 ? `long ${'é'.repeat(20_000)}` : `general ${i}`;
        t.logger.info(msg);
        want.push(msg);
      }
      const ctx = newCtx(clock, { requestedModel: `m${i % 3}` });
      t.endRequest(ctx, null);
      want.push(ctx.id);
    }
    await t.shutdown();
    assert.deepEqual(read().map((l) => l.request_id ?? l.msg), want);
    close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lone line reaches the file without a flush, and buffered lines survive process.exit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'infergate-log-'));
  try {
    const { telemetry: t, clock, read, close } = fileSetup(dir);
    t.endRequest(newCtx(clock), null);
    // The batch is written at the latest 100 ms after its first line; wait for it (bounded), with no flush call.
    for (let i = 0; i < 100 && read().length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(read().length, 1);
    close();

    // A child that logs and exits at once: the exit handler writes out what is still buffered.
    const path = join(dir, 'child.jsonl');
    const child = join(dirname(fileURLToPath(import.meta.url)), 'log-exit-child.ts');
    execFileSync(process.execPath, ['--import', 'tsx', child, path], { stdio: 'inherit' });
    const childLines = readFileSync(path, 'utf8').trim().split('\n');
    assert.equal(childLines.length, 21);
    assert.match(childLines[20]!, /"msg":"bye"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('telemetry\'s own warnings carry an event name to alert on, as every other log line does', async () => {
  const { stream, lines } = createSink();
  const telemetry = createTelemetry({ tracing: false, processMetrics: false, log: { destination: stream, pretty: true } });
  telemetry.registerCollector('broken', () => {
    throw new Error('boom');
  });
  await telemetry.renderMetrics();
  const saved = process.env.OTEL_TRACES_EXPORTER;
  process.env.OTEL_TRACES_EXPORTER = 'zipkin';
  const sink = createSink();
  try {
    await createTelemetry({ tracing: true, metrics: false, log: { destination: sink.stream } }).shutdown();
  } finally {
    if (saved === undefined) delete process.env.OTEL_TRACES_EXPORTER;
    else process.env.OTEL_TRACES_EXPORTER = saved;
  }
  const events = [...lines, ...sink.lines].map((l) => (JSON.parse(l) as { event?: string }).event);
  assert.deepEqual(events, ['log_pretty_unavailable', 'metrics_collector_failed', 'tracing_exporter_unsupported']);
});
