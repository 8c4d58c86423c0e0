/**
 * vLLM's /v1/audio/transcriptions and /v1/audio/translations (Whisper-style): a multipart upload parsed as it arrives
 * (the simulator never holds the file, so a large upload does not grow its memory either), a WAV header read for the
 * duration, and `{"text", "usage": {"type": "duration", "seconds"}}` back. Only the vLLM personality serves them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import busboy from 'busboy';
import type { SimContext } from '../context.js';
import { SSE_HEADERS, sendBody, sendJson } from '../http/io.js';
import { renderError, SimHttpError } from '../personality/errors.js';

/** Seconds of audio in a PCM WAV whose first bytes are `head`, given the total file size. */
export function wavSeconds(head: Buffer, size: number): number | null {
  if (head.length < 44 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') return null;
  const byteRate = head.readUInt32LE(28);
  return byteRate > 0 ? (size - 44) / byteRate : null;
}

/** vLLM's streamed transcription: chat-like `transcription.chunk` deltas, a usage chunk, then `[DONE]`. */
function streamText(ctx: SimContext, res: ServerResponse, model: string, text: string): void {
  const id = ctx.nextId('trsc');
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choices: unknown[], usage?: unknown) =>
    `data: ${JSON.stringify({ id, object: 'transcription.chunk', created, model, choices, ...(usage ? { usage } : {}) })}\n\n`;
  const words = text.split(/(?<= )/);
  res.writeHead(200, SSE_HEADERS);
  let out = '';
  for (const w of words) out += chunk([{ delta: { content: w }, finish_reason: null, stop_reason: null }]);
  out += chunk([{ delta: {}, finish_reason: 'stop', stop_reason: null }]);
  out += chunk([], { prompt_tokens: 0, completion_tokens: words.length, total_tokens: words.length });
  res.end(`${out}data: [DONE]\n\n`);
}

export function handleAudio(ctx: SimContext, req: IncomingMessage, res: ServerResponse, translate: boolean): void {
  if (ctx.personality !== 'vllm') throw new SimHttpError(404, 'Not Found');
  const fields = new Map<string, string>();
  let head = Buffer.alloc(0);
  let size = 0;
  let sawFile = false;
  const bb = busboy({ headers: req.headers });
  bb.on('field', (k, v) => fields.set(k, v));
  bb.on('file', (_name, stream) => {
    sawFile = true;
    stream.on('data', (chunk: Buffer) => {
      if (head.length < 44) head = Buffer.concat([head, chunk.subarray(0, 44 - head.length)]);
      size += chunk.length;
    });
  });
  bb.on('close', () => {
    const fail = (status: number, msg: string, param: string) => {
      const e = renderError(ctx.personality, status, msg, param);
      sendBody(res, e.status, e.contentType, e.body);
    };
    if (!sawFile) return fail(400, 'file: Field required', 'file');
    const model = fields.get('model');
    if (model !== undefined && !ctx.models.includes(model)) return fail(404, `The model \`${model}\` does not exist.`, 'model');
    const seconds = wavSeconds(head, size);
    if (seconds === null) return fail(400, 'Invalid or unsupported audio file.', 'file');
    const text = `${translate ? 'Translated' : 'Transcribed'} ${seconds.toFixed(2)} seconds of audio (${size} bytes).`;
    const format = fields.get('response_format') ?? 'json';
    if (fields.get('stream') === 'true') return streamText(ctx, res, model ?? ctx.model, text);
    if (format === 'text') return sendBody(res, 200, 'text/plain; charset=utf-8', text);
    if (format === 'srt' || format === 'vtt') {
      const end = new Date(seconds * 1000).toISOString().slice(11, 23);
      const cue = `00:00:00${format === 'srt' ? ',' : '.'}000 --> ${format === 'srt' ? end.replace('.', ',') : end}\n${text}\n`;
      return sendBody(res, 200, 'text/plain; charset=utf-8', format === 'srt' ? `1\n${cue}` : `WEBVTT\n\n${cue}`);
    }
    sendJson(res, 200, JSON.stringify({ text, usage: { type: 'duration', seconds: Math.ceil(seconds) } }));
  });
  bb.on('error', () => sendBody(res, 400, 'application/json', '{"error":{"message":"bad multipart body","type":"BadRequestError","code":400}}'));
  req.pipe(bb);
}
