import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { SimOptions, SimServer } from '../../src/sim/index.js';
import { CHAT, chat, json, metricValue, post, readUntil, sim, sleep, sseData } from './sim-helpers.js';

async function started(t: TestContext, options: SimOptions = {}): Promise<SimServer> {
  const s = await sim(options);
  t.after(() => s.close());
  return s;
}

const contentChunks = (text: string): number => sseData(text).filter((d) => d.includes('"content":"') && !d.includes('"content":""')).length;
const running = (s: SimServer): Promise<number | undefined> => metricValue(s, 'vllm:num_requests_running{');

describe('simulator faults', () => {
  test('answers with the status from the header, the body field or the server-wide fault', async (t) => {
    const s = await started(t);
    const viaHeader = await post(s, CHAT, chat('x'), { 'x-sim-fault': 'status=503,message=busy%2C%20retry' });
    assert.equal(viaHeader.status, 503);
    assert.deepEqual(await json(viaHeader), { error: { message: 'busy, retry', type: 'ServiceUnavailableError', param: null, code: 503 } });
    assert.equal((await post(s, CHAT, chat('x', { sim_fault: { status: 429 } }))).status, 429);
    s.setFault({ status: 500 });
    assert.equal((await post(s, CHAT, chat('x'))).status, 500);
    assert.equal((await post(s, '/v1/embeddings', { input: 'x' })).status, 500);
    s.setFault(null);
    assert.equal((await post(s, CHAT, chat('x'))).status, 200);
  });

  test('sends a plain-text body when the message starts with text:', async (t) => {
    const s = await started(t);
    const res = await post(s, CHAT, chat('x', { sim_fault: { status: 502, message: 'text:Bad Gateway from proxy' } }));
    assert.equal(res.status, 502);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await res.text(), 'Bad Gateway from proxy');
  });

  test('stalls before the first byte for stall_before_first_ms', async (t) => {
    const s = await started(t);
    const t0 = performance.now();
    const res = await post(s, CHAT, chat('x', { stream: true }), { 'x-sim-fault': 'stall_before_first_ms=150' });
    assert.ok(performance.now() - t0 >= 140, 'headers came too early');
    assert.equal(sseData(await res.text()).at(-1), '[DONE]');
  });

  test('stalls mid-stream until the client aborts, then the log shows the abort and the engine is free', async (t) => {
    const s = await started(t);
    const ac = new AbortController();
    const res = await post(s, CHAT, chat('x', { stream: true }), { 'x-sim-fault': 'stall_after_chunks=3' }, ac.signal);
    const { text, reader } = await readUntil(res, (x) => contentChunks(x) >= 3);
    const more = await Promise.race([reader.read().then(() => 'data'), sleep(150).then(() => 'silence')]);
    assert.equal(more, 'silence');
    assert.equal(contentChunks(text), 3);
    ac.abort();
    const entry = await s.log.waitFor((e) => e.path === CHAT && e.aborted);
    assert.equal(entry.finished, false);
    assert.equal(await running(s), 0);
  });

  test('drops the connection after drop_after_chunks without [DONE]', async (t) => {
    const s = await started(t);
    const res = await post(s, CHAT, chat('x', { stream: true }), { 'x-sim-fault': 'drop_after_chunks=2' });
    let seen = '';
    await assert.rejects(readUntil(res, (x) => ((seen = x), false)));
    assert.equal(contentChunks(seen), 2);
    assert.ok(!seen.includes('[DONE]'));
    const entry = await s.log.waitFor((e) => e.path === CHAT && !e.finished);
    assert.equal(entry.aborted, false, 'a server-side drop is not a client abort');
    assert.equal(await running(s), 0);
  });

  test('sends an error event after error_after_chunks in the personality shape', async (t) => {
    const s = await started(t);
    const text = await (await post(s, CHAT, chat('x', { stream: true, sim_fault: { error_after_chunks: 2, message: 'boom' } }))).text();
    const data = sseData(text);
    assert.equal(contentChunks(text), 2);
    assert.deepEqual(JSON.parse(data.at(-2)!), { error: { message: 'boom', type: 'InternalServerError', param: null, code: 500 } });
    assert.equal(data.at(-1), '[DONE]');
    const tgi = await started(t, { personality: 'tgi' });
    const tgiData = sseData(await (await post(tgi, CHAT, chat('x', { stream: true, sim_fault: { error_after_chunks: 1, message: 'boom' } }))).text());
    assert.deepEqual(JSON.parse(tgiData.at(-1)!), { error: 'boom', error_type: 'generation' });
    const nonStream = await post(tgi, CHAT, chat('x', { sim_fault: { error_after_chunks: 1 } }));
    assert.equal(nonStream.status, 424);
  });

  test('paces tokens by token_delay_ms in real time', async (t) => {
    const s = await started(t);
    const t0 = performance.now();
    const text = await (await post(s, CHAT, chat('x', { stream: true, max_tokens: 5 }), { 'x-sim-fault': 'token_delay_ms=25' })).text();
    assert.equal(contentChunks(text), 5);
    assert.ok(performance.now() - t0 >= 95, `took ${performance.now() - t0} ms`);
  });

  test('reports unhealthy with refuse', async (t) => {
    const s = await started(t, { fault: { refuse: true } });
    assert.equal((await fetch(`${s.url}/health`)).status, 503);
    s.setFault(null);
    assert.equal((await fetch(`${s.url}/health`)).status, 200);
  });
});

describe('simulator aborts and restarts', () => {
  test('cancels the engine request at once when the client disconnects mid-stream', async (t) => {
    const s = await started(t, { itlMs: 5000 });
    const ac = new AbortController();
    const res = await post(s, CHAT, chat('x', { stream: true }), {}, ac.signal);
    await readUntil(res, (x) => contentChunks(x) >= 1);
    assert.equal(await running(s), 1);
    ac.abort();
    const entry = await s.log.waitFor((e) => e.path === CHAT && e.aborted);
    assert.equal(entry.finished, false);
    assert.equal(await running(s), 0);
    assert.equal(await metricValue(s, 'vllm:request_success_total{model_name="sim-llama-8b",engine="0",finished_reason="abort"}'), 1);
  });

  test('drops in-flight connections on restart and keeps serving', async (t) => {
    const s = await started(t, { itlMs: 5000 });
    const res = await post(s, CHAT, chat('x', { stream: true }));
    const { reader } = await readUntil(res, (x) => contentChunks(x) >= 1);
    s.restart();
    await assert.rejects(async () => {
      for (;;) if ((await reader.read()).done) throw new Error('ended cleanly');
    }, (err: Error) => err.message !== 'ended cleanly');
    assert.equal(await running(s), 0);
    assert.equal((await post(s, CHAT, chat('x', { max_tokens: 1 }))).status, 200);
  });
});
