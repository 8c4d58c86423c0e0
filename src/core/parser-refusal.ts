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
