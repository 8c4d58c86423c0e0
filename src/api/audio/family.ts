import type { IncomingMessage } from 'node:http';
import { GatewayError, type RequestCtx } from '../../core/index.js';
import { findUsage, type BackendUsage } from '../../upstream/index.js';
import { basesOf, servesNatively } from '../backend-support.js';
import { bearerCredential, type BodyLimits, type Family, type FamilyRequest } from '../family.js';
import { writeError } from '../respond.js';
import { readAudioUpload } from './multipart.js';

/**
 * Audio transcriptions and translations (`POST /v1/audio/transcriptions`, `/v1/audio/translations`): the multipart
 * upload is streamed to a backend that serves them (vLLM, OpenAI), with `model` rewritten to the backend's name.
 * Whisper-style usage (`{"type":"duration","seconds"}`) carries no tokens: such requests count against request limits
 * only; token usage (`input_tokens` / `output_tokens`) is recorded when the backend reports it.
 */
const NO_TOKENS: BackendUsage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };

export const audioFamily: Family = {
  endpoint: 'audio',
  credential: bearerCredential,
  writeError,
  async read(incoming: IncomingMessage, limits: BodyLimits, ctx: RequestCtx): Promise<FamilyRequest> {
    const kind = (incoming.url ?? '').startsWith('/v1/audio/translations') ? 'translations' : 'transcriptions';
    const upload = await readAudioUpload(incoming, limits.body_limit, ctx.id);
    const field = (name: string) => upload.fields.find(([k]) => k === name)?.[1];
    const model = field('model');
    if (!model) {
      upload.dispose();
      throw new GatewayError('invalid_request', "Missing required parameter: 'model'.", { param: 'model', wireCode: 'missing_required_parameter' });
    }
    const stream = field('stream') === 'true';
    return {
      model,
      stream,
      maxTokens: null,
      generates: true,
      promptText: field('prompt') ?? '',
      sessionKey: null,
      pinnedBackend: null,
      replayable: () => upload.replayable(),
      dispose: () => upload.dispose(),
      clientFailure: () => upload.failure(),
      serves: (b) => servesNatively('audio', b),
      call: (backend) => ({
        method: 'POST',
        path: `${basesOf(backend).v1}/audio/${kind}`,
        body: upload.body(backend.model),
        contentType: `multipart/form-data; boundary=${upload.boundary}`,
        events: null,
        anyContent: true,
        usage: (data) => findUsage(data) ?? NO_TOKENS,
      }),
    };
  },
};
