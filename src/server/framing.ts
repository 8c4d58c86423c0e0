import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { getRequestListener, RequestError } from '@hono/node-server';
import { acceptRequestId, deferContinue, type Clock } from '../core/index.js';
import type { UsageWriter } from '../usage/index.js';
import { createRefusalRecorder, refusalAnswer, refuseOnSocket, type Refusal } from './refusal.js';

/**
 * Requests Node or @hono/node-server would refuse with a bare status (no envelope, no x-request-id) or no answer at
 * all: HTTP/1.1 without Host (Node's requireHostHeader, turned off so the gateway answers it), an `Expect` other than
 * 100-continue (Node's 417), CONNECT (Node closes the socket), and targets node-server cannot build a URL from
 * (asterisk-form, garbage). Each is answered in OpenAI's envelope, leaves a usage row like the parser's refusals, and
 * closes the connection: what follows such a request on it cannot be trusted to be framed as the client meant.
 */

const MISSING_HOST: Refusal = {
  status: 400,
  reason: 'Bad Request',
  code: 'malformed_http',
  message: 'An HTTP/1.1 request must carry a Host header (RFC 9112 §3.2).',
};
const EXPECTATION_FAILED: Refusal = {
  status: 417,
  reason: 'Expectation Failed',
  code: 'expectation_failed',
  message: 'The gateway meets no Expect header but 100-continue.',
};
/** Every method the gateway serves on some route (HEAD with each GET); CONNECT on none. */
export const SERVED_METHODS = 'GET, HEAD, POST, PATCH, DELETE';
const CONNECT_REFUSED: Refusal = {
  status: 405,
  reason: 'Method Not Allowed',
  code: 'method_not_allowed',
  message: `Method CONNECT is not allowed: this gateway is not a proxy; use ${SERVED_METHODS}.`,
};
/**
 * OPTIONS * asks what the server as a whole allows. A 200 with an Allow would advertise OPTIONS, which every route then
 * refuses (the gateway serves no CORS preflight), so it is refused like any other target that is not a path.
 */
const ASTERISK_TARGET: Refusal = {
  status: 400,
  reason: 'Bad Request',
  code: 'malformed_http',
  message: 'The request target * (asterisk-form) is not served: this gateway answers OPTIONS on no route.',
};
const BAD_TARGET: Refusal = {
  status: 400,
  reason: 'Bad Request',
  code: 'malformed_http',
  message: 'The request target is not a path this gateway can serve.',
};

const TOO_LARGE_TO_CONTINUE: Refusal = {
  status: 413,
  reason: 'Payload Too Large',
  code: 'request_too_large',
  message: "The declared request body exceeds the gateway's limit (server.body_limit); it was not sent, so do not send it.",
};

export interface FramingOptions {
  clock: Clock;
  usage: () => UsageWriter | null;
}

export interface FramingRefusals {
  /** An HTTP/1.1 request without Host; for the request listener, which checks `headers.host` as Node did. */
  missingHost(req: IncomingMessage, res: ServerResponse): void;
  /** The server's `checkExpectation` listener. */
  expectation(req: IncomingMessage, res: ServerResponse): void;
  /** The server's `connect` listener. */
  connect(req: IncomingMessage, socket: Socket): void;
  /** A request node-server cannot build a URL from even with the listening address for its Host. */
  badTarget(req: IncomingMessage, res: ServerResponse): void;
  /**
   * The server's `checkContinue` listener: a body declared over `limit()` is refused before the client sends it (no
   * `100 Continue`, which would invite the upload only to refuse it); any other request is told to continue and
   * handed to `serve`, the request listener (Node emits no `request` event once this one is handled).
   */
  continueOrRefuse(limit: () => number, serve: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void;
}

export function createFramingRefusals(options: FramingOptions): FramingRefusals {
  const record = createRefusalRecorder(options.clock, options.usage);

  const answer = (r: Refusal, req: IncomingMessage, res: ServerResponse) => {
    const id = acceptRequestId(req.headers['x-request-id'] as string | undefined);
    record(r, id);
    const { body, headers } = refusalAnswer(r, req.url ?? '', id);
    res.shouldKeepAlive = false;
    res.writeHead(r.status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-request-id': id });
    res.end(body);
  };

  return {
    missingHost: (req, res) => answer(MISSING_HOST, req, res),
    // Node checks Host before Expect; with its check off, this listener keeps that order.
    expectation: (req, res) => answer(req.headers.host === undefined ? MISSING_HOST : EXPECTATION_FAILED, req, res),
    badTarget: (req, res) => answer(req.url === '*' ? ASTERISK_TARGET : BAD_TARGET, req, res),
    continueOrRefuse: (limit, serve) => (req, res) => {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > limit()) return answer(TOO_LARGE_TO_CONTINUE, req, res);
      // The API's pipeline invites the body when it starts reading it (core/continue.ts); other routes at once.
      if (req.method === 'POST' && req.url?.startsWith('/v1/')) deferContinue(req, () => res.writeContinue());
      else res.writeContinue();
      serve(req, res);
    },
    connect(req, socket) {
      // Node has handed the socket over and removed its own listeners: a reset now would be an uncaught error.
      socket.on('error', () => socket.destroy());
      const id = acceptRequestId(req.headers['x-request-id'] as string | undefined);
      record(CONNECT_REFUSED, id);
      refuseOnSocket(socket, CONNECT_REFUSED, id, `Allow: ${SERVED_METHODS}\r\n`);
    },
  };
}

type FetchCallback = Parameters<typeof getRequestListener>[0];

export interface HonoHandoff {
  /** For the request listener: the request goes to Hono. */
  serve(req: IncomingMessage, res: ServerResponse): void;
  /** The listening address (`host:port`), known once the server listens. */
  setHost(host: string): void;
}

/**
 * Hands requests to Hono through @hono/node-server, which builds each request's URL from its Host header. The gateway
 * never routes on Host (the hot path ignores it), so a request node-server cannot build a URL for is served as if
 * Host were the listening address: HTTP/1.0 without Host (allowed there), an empty one, or one that is not a host
 * (`a b`, `x:99999999`). Only a target that is no path at all is refused.
 */
export function createHonoHandoff(fetch: FetchCallback, refusals: Pick<FramingRefusals, 'badTarget'>): HonoHandoff {
  const options = {
    overrideGlobalObjects: false,
    // Where Host is absent or empty; node-server reads it per request.
    hostname: undefined as string | undefined,
    errorHandler,
  };
  const listener = getRequestListener(fetch, options);
  // node-server calls errorHandler synchronously inside the listener call when it cannot build the request, and
  // passes only the error: the request being handed over is kept here for that call (two stores, no allocation).
  let handing: IncomingMessage | null = null;
  let handingRes: ServerResponse | null = null;

  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    handing = req;
    handingRes = res;
    void listener(req, res);
    handing = null;
    handingRes = null;
  };

  function errorHandler(err: unknown): Response | undefined {
    const req = handing;
    const res = handingRes;
    if (!(err instanceof RequestError) || req === null || res === null) {
      // Not a request node-server refused (a bug reached it): an envelope all the same.
      const body = JSON.stringify({ error: { message: 'The gateway hit an internal error.', type: 'server_error', param: null, code: 'internal' } });
      return new Response(body, { status: 500, headers: { 'content-type': 'application/json' } });
    }
    const url = req.url ?? '';
    if (options.hostname !== undefined && req.headers.host !== options.hostname && url.charCodeAt(0) === 47 /* / */) {
      req.headers.host = options.hostname;
      serve(req, res);
      return undefined;
    }
    refusals.badTarget(req, res);
    return undefined;
  }

  return {
    serve,
    setHost(host) {
      options.hostname = host;
    },
  };
}
