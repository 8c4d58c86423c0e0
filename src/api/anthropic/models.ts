import type { IncomingHttpHeaders } from 'node:http';
import type { CompiledModel, RuntimeConfig } from '../../config/index.js';
import { GatewayError } from '../../core/index.js';
import type { ModelVisibility } from '../models.js';

/**
 * `GET /v1/models` for Anthropic's SDK (it sends `anthropic-version` on every call): Anthropic's list shape, with
 * its cursor pagination (`limit`, `after_id`, `before_id`); its credential header (`x-api-key`) is accepted as the
 * Messages routes accept it (credential.ts).
 */
export function wantsAnthropic(headers: IncomingHttpHeaders): boolean {
  return typeof headers['anthropic-version'] === 'string';
}

function modelObject(m: CompiledModel, id: string) {
  return { type: 'model' as const, id, display_name: id, created_at: new Date(m.created * 1000).toISOString() };
}

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 1000;

function limitOf(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) {
    throw new GatewayError('invalid_request', `limit: must be an integer from 1 to ${MAX_LIMIT}.`, { param: 'limit' });
  }
  return n;
}

export function anthropicModelList(cfg: RuntimeConfig, visible: ModelVisibility, query: { limit?: string; after_id?: string; before_id?: string }): string {
  const all: ReturnType<typeof modelObject>[] = [];
  for (const m of cfg.modelList) {
    if (visible(m.name)) all.push(modelObject(m, m.name));
    for (const alias of m.aliases) if (visible([alias, m.name])) all.push(modelObject(m, alias));
  }
  const limit = limitOf(query.limit);
  // The cursors bound a window (after_id, before_id); a cursor naming no model bounds it to nothing, not to the whole
  // list, or a client paging on a model removed meanwhile would start over and loop.
  const indexOf = (id: string) => all.findIndex((m) => m.id === id);
  const after = query.after_id === undefined ? 0 : indexOf(query.after_id) < 0 ? all.length : indexOf(query.after_id) + 1;
  const end = query.before_id === undefined ? all.length : Math.max(0, indexOf(query.before_id));
  // Paging backwards (before_id) takes the window's last page; forwards, its first.
  const start = query.before_id === undefined ? after : Math.max(after, end - limit);
  const page = start < end ? all.slice(start, Math.min(end, start + limit)) : [];
  const hasMore = query.before_id !== undefined ? start > after : start + page.length < end;
  return JSON.stringify({ data: page, has_more: hasMore, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null });
}

export function anthropicModel(cfg: RuntimeConfig, id: string, visible: ModelVisibility): string {
  const m = cfg.models.get(id);
  if (!m || !visible(id === m.name ? m.name : [id, m.name])) {
    throw new GatewayError('model_not_found', `model: ${id.length > 200 ? `${id.slice(0, 200)}…` : id}`, { param: 'model', wireCode: 'model_not_found' });
  }
  return JSON.stringify(modelObject(m, id));
}
