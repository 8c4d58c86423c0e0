import type { CompiledModel, RuntimeConfig } from '../config/index.js';
import { GatewayError } from '../core/index.js';

function modelObject(m: CompiledModel, id = m.name) {
  return { id, object: 'model' as const, created: m.created, owned_by: 'infergate' };
}

/** `GET /v1/models`: public model names only (aliases resolve but are not listed twice). */
export function listModels(cfg: RuntimeConfig, visible: (name: string) => boolean = () => true): string {
  return JSON.stringify({ object: 'list', data: cfg.modelList.filter((m) => visible(m.name)).map((m) => modelObject(m)) });
}

/** `GET /v1/models/{id}`: an alias answers with the model it names. */
export function retrieveModel(cfg: RuntimeConfig, id: string, visible: (name: string) => boolean = () => true): string {
  const m = cfg.models.get(id);
  if (!m || !visible(m.name)) {
    throw new GatewayError('model_not_found', `The model \`${id}\` does not exist or you do not have access to it.`, { param: 'model', wireCode: 'model_not_found' });
  }
  return JSON.stringify(modelObject(m));
}
