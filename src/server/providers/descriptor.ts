/**
 * Everything that differs between upstream provider types, behind one interface (DESIGN §8,
 * STYLE "one descriptor per variant"). Each type is one module in `types/`, looked up in
 * `registry.ts`; nothing else in the server switches on a provider's type.
 */
import type { ProviderConfig, ProviderType } from '../../shared/config/schema.ts';
import type { WireFormat } from '../../shared/wire-format.ts';
import type { ModelRoute } from '../http/routes.ts';
import type { HeaderSource } from '../routing/outcome.ts';
import type { CountTokensApi } from './count-tokens-api.ts';
import type { serveMock } from './mock.ts';

/** The API families inbound routes belong to; a provider of a family takes them without translation. */
export type ApiFamily = ModelRoute['family'];

/** What the registry knows of a provider's config: descriptors read nothing else. */
export type DescribedConfig = Pick<ProviderConfig, 'name' | 'type' | 'baseUrl' | 'wireApi' | 'anthropicVersion'>;

export interface ProviderDescriptor {
  readonly type: ProviderType;
  /** The family whose routes it serves natively; `any`: it answers every format itself (mock). */
  readonly family: ApiFamily | 'any';
  /** The wire formats it speaks natively (a same-family request in one of them passes through). */
  speaks(config: DescribedConfig): readonly WireFormat[];
  /** The format a request from another family (or a same-family one it does not speak) is translated to; `any` for a provider that never needs one. */
  translatesTo(config: DescribedConfig): WireFormat | 'any';
  /** Used when the config gives no base-url; null: the config must give one (see providerNeeds in the schema). */
  readonly defaultBaseUrl: string | null;
  /** Sets the credential header(s) and any header the API requires, without overriding the client's own. */
  applyCredential(headers: Record<string, string>, key: string | null, config: DescribedConfig): void;
  /**
   * The upstream URL for a same-family request. `sse`: a Gemini client asked for `alt=sse`
   * (without it, streamGenerateContent answers with a JSON array streamed as it grows).
   */
  passthroughUrl(base: string, route: ModelRoute, model: string, stream: boolean, sse: boolean): string;
  /** The upstream URL for a request translated into `wire` (one of `translatesTo`'s answers). */
  translatedUrl(base: string, wire: WireFormat, model: string, stream: boolean): string;
  /** The status and message of an upstream error answer (some APIs put the real status in the body). */
  readError(status: number, body: unknown): { status: number; message: string };
  /** How long the upstream asked us to wait after a 429 or 503, in ms from `now`; null without a hint. */
  waitMs(headers: HeaderSource, body: string | undefined, now: number): number | null;
  /** How the upstream lists its models: GET this path under the base URL, and read the ids from the answer. Null: nothing to list. */
  readonly models: { readonly path: (base: string) => string; readonly ids: (body: unknown) => string[] } | null;
  /** Its token-count API, for a count from a client of another family; null: it has none, the gateway estimates. */
  readonly countTokens: CountTokensApi | null;
  /** Served inside the gateway rather than over HTTP (mock); null for every real upstream. */
  readonly serveLocally: typeof serveMock | null;
}
