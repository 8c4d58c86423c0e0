import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseScanner, eventData, type EventVisitor } from '../../src/upstream/sse-scanner.js';

/** A visitor from a function (the relays pass themselves; the tests only need the verdict). */
const visiting = (visitEvent: EventVisitor['visitEvent']): EventVisitor => ({ visitEvent });

interface Run {
  forwarded: Buffer;
  events: string[];
}

function run(input: Buffer, splits: number[], drop: (data: string) => boolean = () => false): Run {
  const scanner = new SseScanner();
  const events: string[] = [];
  const parts: Buffer[] = [];
  const visit = visiting((buf, s, e) => {
    const d = eventData(buf, s, e);
    events.push(d);
    return !drop(d);
  });
  let prev = 0;
  for (const cut of [...splits, input.length]) {
    const out = scanner.push(input.subarray(prev, cut), visit);
    if (out) parts.push(...(Array.isArray(out) ? out : [out]));
    prev = cut;
  }
  const rest = scanner.flush();
  if (rest) parts.push(rest);
  return { forwarded: Buffer.concat(parts), events };
}

const STREAM = Buffer.from(
  ': keep-alive comment\n\n' +
    'data: {"choices":[{"delta":{"content":"héllo 世界 🙂"}}]}\n\n' +
    'event: message\r\ndata: {"a":1}\r\ndata: {"b":2}\r\n\r\n' +
    'data: {"choices":[],"usage":{"prompt_tokens":3}}\r\r' +
    'data: [DONE]\n\n',
  'utf8',
);

test('frames events identically whatever byte offset the stream is split at', () => {
  const whole = run(STREAM, []);
  assert.deepEqual(whole.events, [
    '',
    '{"choices":[{"delta":{"content":"héllo 世界 🙂"}}]}',
    '{"a":1}\n{"b":2}',
    '{"choices":[],"usage":{"prompt_tokens":3}}',
    '[DONE]',
  ]);
  assert.ok(whole.forwarded.equals(STREAM));
  for (let cut = 1; cut < STREAM.length; cut++) {
    const r = run(STREAM, [cut]);
    assert.deepEqual(r.events, whole.events, `split at ${cut}`);
    assert.ok(r.forwarded.equals(STREAM), `bytes unchanged when split at ${cut}`);
  }
});

test('frames correctly when fed one byte at a time', () => {
  const splits = Array.from({ length: STREAM.length - 1 }, (_, i) => i + 1);
  const r = run(STREAM, splits);
  assert.equal(r.events.length, 5);
  assert.ok(r.forwarded.equals(STREAM));
});

test('drops exactly the rejected event and forwards the rest byte for byte', () => {
  const expected = Buffer.from(STREAM.toString('utf8').replace('data: {"choices":[],"usage":{"prompt_tokens":3}}\r\r', ''), 'utf8');
  for (let cut = 0; cut <= STREAM.length; cut++) {
    const r = run(STREAM, cut === 0 ? [] : [cut], (d) => d.includes('"usage"'));
    assert.ok(r.forwarded.equals(expected), `split at ${cut}`);
  }
});

test('does not end an event on a CR that may be the first half of CRLF', () => {
  const s = new SseScanner();
  const seen: string[] = [];
  const visit = visiting((b, st, e) => (seen.push(eventData(b, st, e)), true));
  assert.equal(s.push(Buffer.from('data: x\r\n\r'), visit), null);
  assert.deepEqual(seen, []);
  const out = s.push(Buffer.from('\ndata: y\n\n'), visit);
  assert.deepEqual(seen, ['x', 'y']);
  assert.equal(Buffer.concat(Array.isArray(out) ? out : [out!]).toString(), 'data: x\r\n\r\ndata: y\n\n');
});

test('returns an unterminated trailing event from flush', () => {
  const s = new SseScanner();
  const out = s.push(Buffer.from('data: a\n\ndata: partial'), visiting(() => true));
  assert.equal((out as Buffer).toString(), 'data: a\n\n');
  assert.equal(s.flush()?.toString(), 'data: partial');
  assert.equal(s.flush(), null);
});

test('reads data with and without the optional space and ignores other fields', () => {
  const b = Buffer.from('id: 7\ndata:x\ndata:  y\nretry: 10\n\n');
  assert.equal(eventData(b, 0, b.length), 'x\n y');
});

test('holds an event that arrives in many small pieces and forwards it whole, unchanged', () => {
  const big = Buffer.concat([Buffer.from('data: '), Buffer.alloc(3 * 1024 * 1024, 0x61), Buffer.from('\n\ndata: [DONE]\n\n')]);
  const splits: number[] = [];
  for (let at = 1000; at < big.length; at += 1000) splits.push(at);
  const r = run(big, splits);
  assert.ok(r.forwarded.equals(big));
  assert.equal(r.events.length, 2);
  assert.equal(r.events[0]!.length, 3 * 1024 * 1024);
});

test('refuses an event that outgrows the cap, whether it comes in one chunk or many', async () => {
  const { SseEventTooLarge } = await import('../../src/upstream/sse-scanner.js');
  const visit = visiting(() => true);
  const one = new SseScanner(1024);
  assert.throws(() => one.push(Buffer.alloc(2048, 0x61), visit), SseEventTooLarge);
  const many = new SseScanner(1024);
  many.push(Buffer.from('data: ok\n\n'), visit);
  assert.throws(() => {
    for (let i = 0; i < 20; i++) many.push(Buffer.alloc(100, 0x61), visit);
  }, SseEventTooLarge);
});

test('a visitor can replace an event with other bytes', () => {
  const s = new SseScanner();
  const out = s.push(Buffer.from('data: a\n\ndata: b\n\ndata: c\n\n'), visiting((buf, st, en) => (eventData(buf, st, en) === 'b' ? Buffer.from('data: B\n\n') : true)));
  assert.equal(Buffer.concat(Array.isArray(out) ? out : [out!]).toString(), 'data: a\n\ndata: B\n\ndata: c\n\n');
});
