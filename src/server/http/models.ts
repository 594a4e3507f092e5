/**
 * `GET /v1/models` in the shape the asking SDK expects: OpenAI's list, Anthropic's (when the
 * request carries `anthropic-version`, as the Anthropic SDK always does) and Gemini's for
 * `/v1beta/models`. Only the ids the client's key may use are listed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { allowsModel, type Client } from '../auth/client-keys.ts';
import { extractKey } from '../auth/extract-key.ts';
import type { Snapshot } from '../snapshot.ts';
import { sendError, sendJson } from './respond.ts';

const created = 1_700_000_000;

function authenticate(req: IncomingMessage, res: ServerResponse, snapshot: Snapshot, format: 'openai' | 'anthropic' | 'gemini'): Client | null {
  const auth = snapshot.clients.authenticate(extractKey(req.headers, req.url ?? '')?.key ?? null);
  if (auth.ok) return auth.client;
  sendError(res, format, 401, auth.reason === 'missing' ? 'No API key provided.' : auth.reason === 'expired' ? 'This API key has expired.' : 'Invalid API key.', { code: 'invalid_api_key' });
  return null;
}

export function listModels(req: IncomingMessage, res: ServerResponse, snapshot: Snapshot, path: string): void {
  const gemini = path === '/v1beta/models';
  const anthropic = !gemini && req.headers['anthropic-version'] !== undefined;
  const format = gemini ? 'gemini' : anthropic ? 'anthropic' : 'openai';
  const client = authenticate(req, res, snapshot, format);
  if (client === null) return;
  const models = snapshot.models.listModels().filter((m) => allowsModel(client, m.id));
  if (gemini) {
    return sendJson(res, 200, JSON.stringify({ models: models.map((m) => ({ name: `models/${m.id}`, baseModelId: m.id, displayName: m.id, supportedGenerationMethods: ['generateContent', 'streamGenerateContent', 'countTokens'] })) }));
  }
  if (anthropic) {
    const data = models.map((m) => ({ type: 'model', id: m.id, display_name: m.id, created_at: new Date(created * 1000).toISOString() }));
    return sendJson(res, 200, JSON.stringify({ data, has_more: false, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null }));
  }
  sendJson(res, 200, JSON.stringify({ object: 'list', data: models.map((m) => ({ id: m.id, object: 'model', created, owned_by: m.providers[0] ?? 'ai-proxy' })) }));
}

/** `GET /v1/models/{id}` (the SDKs' `models.retrieve`): any id the gateway would route, listed or matched by a glob. */
export function retrieveModel(req: IncomingMessage, res: ServerResponse, snapshot: Snapshot, id: string): void {
  const anthropic = req.headers['anthropic-version'] !== undefined;
  const format = anthropic ? 'anthropic' : 'openai';
  const client = authenticate(req, res, snapshot, format);
  if (client === null) return;
  const resolution = snapshot.models.resolve(id);
  if (!resolution.ok || !allowsModel(client, id)) return sendError(res, format, 404, resolution.ok ? `The model '${id}' does not exist.` : resolution.message, { code: 'model_not_found' });
  const owner = resolution.candidates[0]?.provider.name ?? 'ai-proxy';
  if (anthropic) return sendJson(res, 200, JSON.stringify({ type: 'model', id, display_name: id, created_at: new Date(created * 1000).toISOString() }));
  sendJson(res, 200, JSON.stringify({ id, object: 'model', created, owned_by: owner }));
}
