import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { GatewayError, newRequestId } from '../../core/index.js';
import { discardUpload, tooLarge } from '../read-body.js';

/**
 * A multipart audio upload read as it arrives (busboy parses; nothing here buffers the file). The form fields before
 * the file are known when `read` resolves; the file itself is either still flowing from the client's socket (when
 * `model` came before it, the usual order for a router) or spooled to a temporary file (when `model` came after it:
 * the gateway must know the model before it can pick a backend). Either way memory holds one chunk at a time.
 */
export interface FilePart {
  readonly field: string;
  readonly filename: string;
  readonly mimeType: string;
}

export interface AudioUpload {
  /** The boundary of the multipart body sent to backends. */
  readonly boundary: string;
  /** Fields in order, the file's position marked by index `fileAt`. */
  readonly fields: Array<[string, string]>;
  readonly fileAt: number;
  readonly file: FilePart;
  /** The multipart body for a backend: fields with `model` replaced, the file, the fields that followed it. */
  body(model: string): Readable;
  /** True while the body can be built again (a spooled file; a streamed one only until it starts flowing). */
  replayable(): boolean;
  /**
   * Why the upload failed on the client's side once it was handed over (over the body limit, the client gone), or
   * null: a backend whose request body broke off for that reason did nothing wrong.
   */
  failure(): GatewayError | null;
  dispose(): void;
}

function partHead(boundary: string, name: string, file?: FilePart): string {
  const disposition = file ? `form-data; name="${name}"; filename="${file.filename.replace(/["\r\n]/g, '_')}"` : `form-data; name="${name}"`;
  return `--${boundary}\r\nContent-Disposition: ${disposition}\r\n${file ? `Content-Type: ${file.mimeType}\r\n` : ''}\r\n`;
}

/**
 * `after` resolves with the fields that follow the file once the whole form is parsed: the file's last byte can arrive
 * before them (a client that flushes right after the file's closing boundary), and the form is only complete then.
 */
async function* encode(boundary: string, fields: Array<[string, string]>, fileAt: number, file: FilePart, data: AsyncIterable<Buffer>, model: string, after: () => Promise<Array<[string, string]>>) {
  const field = ([k, v]: [string, string]) => `${partHead(boundary, k)}${k === 'model' ? model : v}\r\n`;
  yield Buffer.from(fields.slice(0, fileAt).map(field).join('') + partHead(boundary, file.field, file));
  for await (const chunk of data) yield chunk as Buffer;
  const rest = await after();
  yield Buffer.from(`\r\n${[...fields.slice(fileAt), ...rest].map(field).join('')}--${boundary}--\r\n`);
}

/** `tag` names the spool file (the request id), so an operator can tell whose upload a temporary file is. */
export function readAudioUpload(incoming: IncomingMessage, limit: number, tag: string): Promise<AudioUpload> {
  const type = incoming.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(type)) {
    incoming.resume();
    return Promise.reject(new GatewayError('invalid_request', 'Audio uploads must be multipart/form-data with a `file` and a `model` field.', { wireCode: 'invalid_content_type' }));
  }
  if (Number(incoming.headers['content-length']) > limit) {
    incoming.resume();
    return Promise.reject(tooLarge(limit));
  }
  return new Promise<AudioUpload>((resolve, reject) => {
    const boundary = `----infergate${newRequestId()}`;
    const fields: Array<[string, string]> = [];
    const later: Array<[string, string]> = [];
    let fileAt = -1;
    let settled = false;
    let spoolPath: string | null = null;
    let flowing = false;
    let sawFile = false;
    let closed = false;
    // What holds a descriptor or waits on the socket, released on every way out.
    let fileStream: Readable | null = null;
    let sink: WriteStream | null = null;
    // Settles when busboy has parsed the whole form (every field after the file known), or the upload failed.
    let formParsed!: () => void;
    let formFailed!: (err: unknown) => void;
    const formComplete = new Promise<void>((res, rej) => {
      formParsed = res;
      formFailed = rej;
    });
    formComplete.catch(() => {}); // observed by a body being sent, if any
    const afterFile = () => formComplete.then(() => later);
    let failure: GatewayError | null = null;
    let failed = false;
    const fail = (err: unknown) => {
      // Once: a failure's own consequences (the socket cut past the drain bound) report again.
      if (failed) return;
      failed = true;
      if (err instanceof GatewayError) failure = err;
      formFailed(err);
      fileStream?.destroy();
      sink?.destroy();
      if (spoolPath) void rm(spoolPath, { force: true });
      if (!settled) {
        settled = true;
        reject(err);
      }
      incoming.unpipe(bb);
      // What is left is read and dropped up to four times the limit (the client gets its answer), then cut.
      discardUpload(incoming, limit, 0);
    };
    const bb = busboy({ headers: incoming.headers, limits: { fileSize: limit, files: 1, fields: 64, fieldSize: 64 * 1024 } });
    bb.on('field', (name, value) => (fileAt === -1 ? fields : later).push([name, value]));
    bb.on('file', (name, stream, info) => {
      if (sawFile) return void stream.resume();
      sawFile = true;
      fileStream = stream;
      fileAt = fields.length;
      const file = { field: name, filename: info.filename || 'audio', mimeType: info.mimeType || 'application/octet-stream' };
      stream.on('limit', () => fail(tooLarge(limit)));
      const upload = (data: () => AsyncIterable<Buffer>, replay: () => boolean): AudioUpload => ({
        boundary,
        fields,
        fileAt,
        file,
        body: (model) => Readable.from(encode(boundary, fields, fileAt, file, data(), model, afterFile)),
        replayable: replay,
        failure: () => failure,
        dispose: () => {
          if (spoolPath) void rm(spoolPath, { force: true });
          // A file still flowing to a backend when the request ended (client gone, attempt aborted): destroy it, so
          // the body generator waiting on it ends too. One never consumed is drained, so the answer can be read.
          if (flowing && !stream.readableEnded) stream.destroy();
          else if (!stream.readableEnded) stream.resume();
        },
      });
      if (fields.some(([k]) => k === 'model')) {
        // Streamed: the file flows from the client's socket to the backend with backpressure (busboy pauses the socket).
        settled = true;
        resolve(
          upload(
            () => {
              flowing = true;
              return stream;
            },
            () => !flowing,
          ),
        );
        return;
      }
      // `model` comes after the file: spool it (never to memory) until the form is complete.
      spoolPath = join(tmpdir(), `infergate-upload-${tag.replace(/[^A-Za-z0-9_.-]/g, '_')}-${newRequestId()}`);
      const path = spoolPath;
      sink = createWriteStream(path, { mode: 0o600 });
      pipeline(stream, sink).then(
        () => {
          const done = () => {
            if (settled) return;
            settled = true;
            // The form is complete: the fields after the file are known now, `model` among them.
            fields.push(...later.splice(0));
            resolve(upload(() => createReadStream(path), () => true));
          };
          if (closed) done();
          else bb.once('close', done);
        },
        fail,
      );
    });
    bb.on('close', () => {
      closed = true;
      formParsed();
      if (!sawFile) fail(new GatewayError('invalid_request', "Missing required parameter: 'file'.", { param: 'file', wireCode: 'missing_required_parameter' }));
    });
    bb.on('error', () => fail(new GatewayError('invalid_request', 'The multipart body could not be parsed.', { wireCode: 'invalid_multipart' })));
    const gone = () => fail(new GatewayError('invalid_request', 'The client closed the connection before sending the whole body.'));
    incoming.on('aborted', gone);
    incoming.on('close', () => {
      if (!incoming.complete) gone();
    });
    incoming.pipe(bb);
  });
}
