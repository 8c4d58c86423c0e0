import type { IncomingMessage } from 'node:http';

/** The gateway's id for a pipeline request, set on its IncomingMessage so a protocol-level refusal can name it. */
export const REQUEST_ID = Symbol('infergate.requestId');
export type Tagged = IncomingMessage & { [REQUEST_ID]?: string };
