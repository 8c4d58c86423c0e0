import type { CompiledModel, RuntimeConfig } from '../config/index.js';
import { GatewayError } from '../core/index.js';

/** Whether the caller may see a name; given the alias and the model it names, a grant on either is enough. */
export type ModelVisibility = (names: string | readonly string[]) => boolean;

const ALL: ModelVisibility = () => true;

function modelObject(m: CompiledModel, id: string) {
  return { id, object: 'model' as const, created: m.created, owned_by: 'infergate' };
}

/**
 * `GET /v1/models`: every name a client may call, as OpenAI lists them: each model and each of its aliases (an alias
 * is listed when the caller may use it through the alias or the model).
 */
export function listModels(cfg: RuntimeConfig, visible: ModelVisibility = ALL): string {
  const data: ReturnType<typeof modelObject>[] = [];
  for (const m of cfg.modelList) {
    if (visible(m.name)) data.push(modelObject(m, m.name));
    for (const alias of m.aliases) if (visible([alias, m.name])) data.push(modelObject(m, alias));
  }
  return JSON.stringify({ object: 'list', data });
}

/** `GET /v1/models/{id}`: answers with the id asked for, an alias as much as a model name. */
export function retrieveModel(cfg: RuntimeConfig, id: string, visible: ModelVisibility = ALL): string {
  const m = cfg.models.get(id);
  if (!m || !visible(id === m.name ? m.name : [id, m.name])) {
    throw new GatewayError('model_not_found', `The model \`${id.length > 200 ? `${id.slice(0, 200)}…` : id}\` does not exist or you do not have access to it.`, {
      param: 'model',
      wireCode: 'model_not_found',
    });
  }
  return JSON.stringify(modelObject(m, id));
}
