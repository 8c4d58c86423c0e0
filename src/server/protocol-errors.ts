import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { answeredMidUpload, markParserRefusal, newRequestId, type Clock } from '../core/index.js';
import type { UsageWriter } from '../usage/index.js';
import { createRefusalRecorder, refusalAnswer, refuseOnSocket, type Refusal } from './refusal.js';

/**
 * Refusals Node's HTTP parser makes before any handler runs (the server's `clientError` event): headers over
 * `server.max_header_size` (431), headers or body not received in time (408), oversized chunk extensions (413), bytes
 * that are not HTTP (400). Node's own answers have no body; these carry OpenAI's envelope, so an SDK shows the
 * reason, and they leave a usage row.
 */

const HEADERS_TOO_LARGE: Refusal = {
  status: 431,
  reason: 'Request Header Fields Too Large',
  code: 'request_header_fields_too_large',
  message: 'The request headers are larger than this gateway accepts (server.max_header_size).',
};
const TIMEOUT: Refusal = {
  status: 408,
  reason: 'Request Timeout',
  code: 'request_timeout',
  message: 'The request was not received in time (server.timeouts.body); send the whole request promptly.',
};
const CHUNK_EXTENSIONS_TOO_LARGE: Refusal = {
  status: 413,
  reason: 'Payload Too Large',
  code: 'request_too_large',
  message: 'The chunk extensions of the request body are larger than Node accepts.',
};
const BAD_REQUEST: Refusal = { status: 400, reason: 'Bad Request', code: 'malformed_http', message: 'The request is not valid HTTP/1.1.' };

function refusalOf(err: NodeJS.ErrnoException): Refusal | null {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return HEADERS_TOO_LARGE;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return TIMEOUT;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return CHUNK_EXTENSIONS_TOO_LARGE;
    // The peer went away: there is nobody to answer. A FIN in the middle of a request (an aborted upload) ends the
    // parser in this state; the request being served, if any, reads it as the client leaving (a 499 in its row).
    case 'ECONNRESET':
    case 'EPIPE':
    case 'HPE_INVALID_EOF_STATE':
      return null;
    default:
      return BAD_REQUEST;
  }
}

/** The response of the request a socket is serving, if one is in flight (Node's own clientError handling reads it too). */
function inFlightResponse(socket: Socket): ServerResponse | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
}

export interface ClientErrorHandlerOptions {
  clock: Clock;
  usage: () => UsageWriter | null;
  /** The request id the gateway gave a request in flight on this response, if any. */
  requestIdOf: (res: ServerResponse) => string | undefined;
}

/** The server's `clientError` listener. */
export function createClientErrorHandler(options: ClientErrorHandlerOptions): (err: Error, socket: Socket) => void {
  const record = createRefusalRecorder(options.clock, options.usage);

  /** Sockets whose refusal waits for the answer to the request before it (the parser reports each later read again). */
  const deferred = new WeakSet<Socket>();

  /** The refusal written on the raw socket, then the connection closed. */
  const refuse = (r: Refusal, socket: Socket): void => {
    const id = newRequestId();
    // A connection that never sent a byte is not a request (idle sockets, port scans): no usage row for it.
    if (socket.bytesRead > 0) record(r, id);
    refuseOnSocket(socket, r, id);
  };

  return (err, socket) => {
    if (deferred.has(socket)) return;
    // The rest of a body already refused (413 mid-upload) cut short by the client: that request has its answer.
    if (answeredMidUpload(socket)) {
      socket.destroy();
      return;
    }
    const r = refusalOf(err as NodeJS.ErrnoException);
    const res = inFlightResponse(socket);
    if (r !== null && res && res.req.complete && !res.writableFinished) {
      // The bad bytes came after a whole request (pipelined behind it): they are not that request's fault. It gets
      // its own answer, then the refusal goes out and the connection closes.
      // (A request that asked to close the connection has it closed after its answer: the bytes behind it are moot.)
      deferred.add(socket);
      res.once('close', () => {
        if (res.writableFinished && socket.writable) refuse(r, socket);
        else socket.destroy();
      });
      return;
    }
    if (r === null || !socket.writable || (res && res.headersSent)) {
      socket.destroy();
      return;
    }
    if (res) {
      // A request is being served and its body was refused: answer through its response, so the handler that waits
      // for the body sees a finished response, and mark the request so the handler's body read fails with this same
      // status (its usage row, metrics and log then say what the client was told).
      markParserRefusal(res.req, r);
      const id = options.requestIdOf(res) ?? newRequestId();
      res.shouldKeepAlive = false;
      // Node stops feeding the request once its response is done and never ends or closes it, so the handler
      // would wait for the body forever: close the request once the answer is out.
      res.once('finish', () => res.req.destroy());
      const { body, headers } = refusalAnswer(r, res.req.url ?? '', id);
      res.writeHead(r.status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-request-id': id });
      res.end(body);
      return;
    }
    refuse(r, socket);
  };
}
