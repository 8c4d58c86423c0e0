import type { IncomingMessage } from 'node:http';

/**
 * A request that sent `Expect: 100-continue` waits for `100 Continue` before uploading its body. The API routes send
 * it only once they start reading the body, after authentication and the scope check: a caller refused before that
 * is answered without ever being invited to upload (no spooled file, no held body, no reset mid-upload).
 */
const INVITE = Symbol('infergate.continue');
type Inviting = IncomingMessage & { [INVITE]?: () => void };

export function deferContinue(req: IncomingMessage, invite: () => void): void {
  (req as Inviting)[INVITE] = invite;
}

/** Sends the deferred `100 Continue`, once, if the request is waiting for it. */
export function inviteBody(req: IncomingMessage): void {
  const invite = (req as Inviting)[INVITE];
  if (invite === undefined) return;
  (req as Inviting)[INVITE] = undefined;
  invite();
}
