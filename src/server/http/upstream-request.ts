/**
 * The first stage of an upstream attempt: what to send. Picks passthrough or translation, puts
 * the attempt's credential where the provider type wants it, and builds the URL and the body:
 * the client's own bytes when nothing changes, else the translated request.
 */
import type { WireFormat } from '../../shared/wire-format.ts';
import { upstreamRequestHeaders } from '../proxy/headers.ts';
import { baseUrlOf } from '../providers/registry.ts';
import type { Attempt } from '../routing/attempt-plan.ts';
import type { RouteProvider } from '../routing/model-table.ts';
import { isTranslationError, translateRequest, type ToolNames, type TranslationError } from '../translate/index.ts';
import { withIncludeUsage } from '../usage/include-usage.ts';
import type { ModelRequestContext } from './model-request.ts';
import { reportOmitted } from './omitted.ts';
import type { ModelRoute } from './routes.ts';

export interface PreparedRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly payload: Buffer;
  /** The upstream's wire format for a translated request; null for a passthrough. */
  readonly wire: WireFormat | null;
  /** The client's tools by their upstream names (translated requests only). */
  readonly tools: ToolNames | undefined;
  /** The gateway asked a chat stream for its usage the client did not ask for: take it out of the answer. */
  readonly stripUsage: boolean;
}

/**
 * Null: forward as is (same family, a format the provider speaks). Otherwise the upstream's wire
 * format to translate to. OpenAI itself serves both of its APIs, so chat and Responses pass
 * through to it; an OpenAI-compatible upstream speaks the one its `wire-api` names.
 */
export function upstreamWireFor(route: ModelRoute, provider: RouteProvider): WireFormat | null {
  // Only the mock answers `any`, and it is served before this is asked.
  const target = provider.wire as WireFormat;
  if (provider.descriptor.family !== route.family) return target;
  if (route.wire !== null && !provider.speaks.includes(route.wire)) return target;
  return null;
}

/** The client's headers as they may go upstream, with the attempt's credential in its place. */
function upstreamHeaders(ctx: ModelRequestContext, attempt: Attempt, translated: boolean): Record<string, string> {
  const provider = attempt.candidate.provider;
  const headers = upstreamRequestHeaders(ctx.req.headers, provider.config.headers);
  const key = attempt.credential.secret();
  provider.descriptor.applyCredential(headers, key === '' ? null : key, provider.config);
  headers['content-type'] = 'application/json';
  if (translated) {
    // A translated request must not carry the client family's version headers to another family.
    delete headers['anthropic-beta'];
    if (provider.descriptor.family !== 'anthropic') delete headers['anthropic-version'];
  }
  return headers;
}

/** The request for this attempt, or the TranslationError that says why it cannot be written for this upstream. */
export function prepareUpstreamRequest(ctx: ModelRequestContext, attempt: Attempt, body: Record<string, unknown>, raw: Buffer, stream: boolean): PreparedRequest | TranslationError {
  const { req, res, route } = ctx;
  const provider = attempt.candidate.provider;
  const upstreamModel = attempt.candidate.upstreamModel;
  const wire = upstreamWireFor(route, provider);
  const headers = upstreamHeaders(ctx, attempt, wire !== null);
  if (wire === null) {
    const sse = route.endpoint !== 'stream-generate-content' || /[?&]alt=sse(?:&|$)/.test(req.url ?? '');
    const url = provider.descriptor.passthroughUrl(baseUrlOf(provider.config), route, upstreamModel, stream, sse);
    // A chat stream is asked for its usage (the ledger needs it); a client that did not ask does not see it.
    const askUsage = stream && route.wire === 'chat' ? withIncludeUsage(body, upstreamModel) : null;
    // Forward the client's bytes untouched unless the model id must change (Gemini keeps it in the URL).
    const payload = askUsage !== null ? Buffer.from(JSON.stringify(askUsage)) : route.family === 'gemini' || body.model === upstreamModel ? raw : Buffer.from(JSON.stringify({ ...body, model: upstreamModel }));
    reportOmitted(res, [], ctx.warn, '');
    return { url, headers, payload, wire, tools: undefined, stripUsage: askUsage !== null };
  }
  const from = route.wire as WireFormat;
  let translated: ReturnType<typeof translateRequest>;
  try {
    translated = translateRequest(from, wire, body, { model: upstreamModel, stream, unsupported: ctx.snapshot.config.translation.unsupported });
  } catch (error) {
    if (isTranslationError(error)) return error;
    throw error;
  }
  reportOmitted(res, translated.omitted, ctx.warn, `request ${ctx.record.id} (${from} → ${wire}, ${provider.name}/${upstreamModel})`);
  const url = provider.descriptor.translatedUrl(baseUrlOf(provider.config), wire, upstreamModel, stream);
  return { url, headers, payload: Buffer.from(JSON.stringify(translated.body)), wire, tools: translated.tools, stripUsage: false };
}
