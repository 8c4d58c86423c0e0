import type { IncomingMessage } from 'node:http';

/**
 * What Node's HTTP parser refused about a request whose handler was already running (its body stopped arriving:
 * 408; oversized chunk extensions: 413). The server's `clientError` listener answers the client and marks the
 * request; the body reader then fails with the same status, so the usage row, the metrics and the log line all say
 * what the client was told.
 */
export interface ParserRefusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

const MARK = Symbol('infergate.parserRefusal');
type Marked = IncomingMessage & { [MARK]?: ParserRefusal };

export function markParserRefusal(req: IncomingMessage, refusal: ParserRefusal): void {
  (req as Marked)[MARK] = refusal;
}

export function parserRefusalOf(req: IncomingMessage): ParserRefusal | undefined {
  return (req as Marked)[MARK];
}

const ANSWERED = Symbol('infergate.answeredMidUpload');
type Answering = { [ANSWERED]?: IncomingMessage };

/**
 * The request was answered (refused) while its body was still arriving. Node drains the rest before the connection
 * serves another request; a client that gives up instead and closes mid-body leaves the parser with a truncated
 * message, which is the end of this request, not a new malformed one (no second answer, no second usage row).
 */
export function markAnsweredMidUpload(req: IncomingMessage): void {
  if (req.socket) (req.socket as unknown as Answering)[ANSWERED] = req;
}

/** Whether a parser error on this socket belongs to a request already answered mid-upload. */
export function answeredMidUpload(socket: object): boolean {
  const req = (socket as Answering)[ANSWERED];
  return req !== undefined && !req.complete;
}
