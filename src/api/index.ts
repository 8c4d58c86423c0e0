export { createPipeline, type Pipeline, type PipelineDeps, type LiveConfig } from './pipeline.js';
export { listModels, retrieveModel } from './models.js';
export { writeError, writeJson } from './respond.js';
export { parseJsonBody, readRequestBody } from './read-body.js';
export { validateRequest } from './wire.js';
export { applyEdits, topLevelSpans } from './json-splice.js';
export { FAMILY_ROUTES } from './families.js';
export { ResponseStore, type ResponsePeers } from './responses/store.js';
