/**
 * The configuration schema: one source of truth for types, defaults and the reference docs.
 * Keys are kebab-case in YAML (as in Caddy and most YAML-configured services); the loader
 * hands the program a camelCase copy (`Config`), guided by this schema so that user-chosen
 * keys inside maps (`headers`, `aliases`, `fallbacks`) are left exactly as written.
 */
import { z } from 'zod';
import { logLevels, type LogLevel } from '../log-levels.ts';
import { parseDuration, parseSize } from './units.ts';

/**
 * What a value looks like to a person, for schemas whose zod structure does not say it (a
 * duration is a union piped into a transform). Read by the error messages and the docs
 * generator; zod registries follow clones, so `.describe()` and `.default()` keep the entry.
 */
export const configTypes = z.registry<{ type: string; expected: string }>();

const duration = (what: string) =>
  z
    .union([z.number().nonnegative(), z.string()])
    .transform((value, ctx) => {
      const ms = typeof value === 'number' ? value * 1000 : parseDuration(value);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: `expected a duration for ${what} such as 500ms, 30s, 5m or a number of seconds` });
        return z.NEVER;
      }
      return ms;
    })
    .register(configTypes, { type: 'duration', expected: 'a duration such as 500ms, 30s, 5m or a number of seconds' });

const size = (what: string) =>
  z
    .union([z.number().int().nonnegative(), z.string()])
    .transform((value, ctx) => {
      const bytes = typeof value === 'number' ? value : parseSize(value);
      if (bytes === null) {
        ctx.addIssue({ code: 'custom', message: `expected a size for ${what} such as 512KB, 32MB or a number of bytes` });
        return z.NEVER;
      }
      return bytes;
    })
    .register(configTypes, { type: 'size', expected: 'a size such as 512KB, 32MB or a number of bytes' });

const httpUrl = z
  .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
  .register(configTypes, { type: 'URL', expected: 'an http:// or https:// URL' });
const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected a name of letters, digits, ".", "_" or "-"')
  .register(configTypes, { type: 'name', expected: 'a name of letters, digits, ".", "_" or "-"' });
const glob = z.string().min(1).register(configTypes, { type: 'glob', expected: 'a model id or glob such as gpt-4o or claude-*' });

export type { LogLevel };

export const providerTypes = ['openai', 'anthropic', 'gemini', 'openai-compatible', 'mock'] as const;
export type ProviderType = (typeof providerTypes)[number];

/**
 * What a config must give for each provider type, checked by semantic-checks.ts: `apiKeys`, the
 * environment variable its error suggests when a type needs keys (null: keys are optional);
 * `baseUrl`, the example its error gives when the type has no default (null: it has one). The
 * server's provider descriptors (src/server/providers/types/) hold the rest of what a type is.
 */
export interface ProviderNeeds {
  readonly apiKeys: string | null;
  readonly baseUrl: string | null;
}

export const providerNeeds = {
  openai: { apiKeys: 'OPENAI_API_KEY', baseUrl: null },
  anthropic: { apiKeys: 'ANTHROPIC_API_KEY', baseUrl: null },
  gemini: { apiKeys: 'GEMINI_API_KEY', baseUrl: null },
  'openai-compatible': { apiKeys: null, baseUrl: 'http://127.0.0.1:11434/v1 for Ollama' },
  mock: { apiKeys: null, baseUrl: null },
} as const satisfies Record<ProviderType, ProviderNeeds>;

const listenSchema = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1').describe('Address to listen on. A non-loopback address requires client keys or allow-unauthenticated.'),
    port: z.number().int().min(0).max(65535).default(8317).describe('TCP port; 0 picks a free port (tests).'),
  })
  .prefault({})
  .describe('Where the gateway accepts connections. A reload cannot change it (restart instead).');

const logSchema = z
  .strictObject({
    level: z.enum(logLevels).default('info').describe('Minimum level written.'),
    format: z.enum(['text', 'json']).default('text').describe('text: one human-readable line per event; json: one JSON object per line.'),
    file: z.string().min(1).optional().describe('Log file. Default: terminal in the foreground (stdout under systemd); in daemon mode $LOGS_DIRECTORY, /var/log/ai-proxy (root) or $XDG_STATE_HOME/ai-proxy, file ai-proxy.log.'),
    rotate: z.enum(['daily', 'external']).default('daily').describe('daily: rotated by ai-proxy at midnight; external: left to logrotate, SIGUSR1 reopens the file.'),
    'max-files': z.number().int().min(1).default(14).describe('Rotated files kept (daily rotation).'),
    'max-size': size('log.max-size').optional().describe('Also rotate when the file reaches this size.'),
    compress: z.boolean().default(false).describe('gzip rotated files.'),
    access: z.boolean().default(true).describe('Write one access line per request.'),
  })
  .prefault({})
  .describe('Logging: level, format, file and rotation.');

const corsSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Answer CORS preflights and add CORS headers, for browser clients.'),
    origins: z.array(z.string()).default(['*']).describe('Allowed origins; "*" allows any.'),
    headers: z
      .array(z.string())
      .default(['authorization', 'content-type', 'x-api-key', 'x-goog-api-key', 'anthropic-version', 'anthropic-beta', 'x-request-id'])
      .describe('Request headers browsers may send (Access-Control-Allow-Headers).'),
    'max-age': duration('cors.max-age').default(600_000).describe('How long browsers may cache a preflight answer.'),
  })
  .prefault({})
  .describe('Cross-origin requests from browsers.');

const serverSchema = z
  .strictObject({
    'body-limit': size('server.body-limit').default(32 * 1024 * 1024).describe('Largest request body accepted, counted after decoding a Content-Encoding (413 beyond).'),
    'header-timeout': duration('server.header-timeout').default(30_000).describe('Time allowed to receive the request headers.'),
    'body-timeout': duration('server.body-timeout').default(60_000).describe('Longest silence while a request body arrives (408 beyond, like nginx\'s client_body_timeout); 0 disables.'),
    'keep-alive-timeout': duration('server.keep-alive-timeout').default(5_000).describe('Idle keep-alive connections are closed after this.'),
    'stream-keepalive': duration('server.stream-keepalive').default(15_000).describe('SSE comment sent while an upstream stream is silent this long; 0 disables.'),
    cors: corsSchema,
  })
  .prefault({})
  .describe('HTTP server limits and timeouts.');

const clientKeySchema = z
  .strictObject({
    name: name.describe('Shown in logs and metrics instead of the key.'),
    key: z.string().min(8, 'expected a key of at least 8 characters').optional().describe('The key clients send; usually ${VAR} or ${file:PATH}.'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/i, 'expected 64 hex digits').optional().describe('SHA-256 (hex) of the key, instead of the key itself.'),
    models: z.array(glob).optional().describe('Model ids (globs) this key may use; default all.'),
    expires: z.iso
      .datetime({ offset: true })
      .or(z.iso.date())
      .register(configTypes, { type: 'date-time', expected: 'an ISO 8601 date or date-time such as 2026-12-31 or 2026-12-31T23:59:59Z' })
      .optional()
      .describe('After this instant the key is refused.'),
    rpm: z.number().int().positive().optional().describe('Requests per minute.'),
    tpm: z.number().int().positive().optional().describe('Tokens per minute (counted from reported usage).'),
    budget: z
      .strictObject({
        usd: z.number().positive().describe('Spend allowed per period, in USD (costs from the pricing table).'),
        period: z.enum(['day', 'week', 'month']).describe('day, week (from Monday) or calendar month, in UTC.'),
        'fail-closed': z.boolean().default(false).describe('Refuse the key (503) while its spend is not known for sure (shared state away, or the ledger unreadable at start) rather than serve it unchecked.'),
      })
      .optional()
      .describe('Spend limit: past it the key gets 429 until the period resets. Requests in flight when it is crossed still finish (docs/operations.md, "Budgets").'),
  })
  .refine((k) => (k.key === undefined) !== (k.sha256 === undefined), { message: 'give exactly one of key or sha256' });

const apiKeySchema = z.union([
  z.string().min(1),
  z.strictObject({
    key: z.string().min(1).describe('The upstream key; usually ${VAR} or ${file:PATH}.'),
    name: name.optional().describe('Shown in logs, metrics and /admin instead of the key.'),
    weight: z.number().int().positive().default(1).describe('Share of requests under the weighted strategy.'),
  }),
]);

const timeoutsSchema = z
  .strictObject({
    connect: duration('timeouts.connect').default(10_000).describe('Time to open the upstream connection.'),
    'first-byte': duration('timeouts.first-byte').default(120_000).describe('Time from sending the request to the first response byte.'),
    idle: duration('timeouts.idle').default(300_000).describe('Longest silence between stream chunks.'),
    total: duration('timeouts.total').default(0).describe('Whole request; 0 means no limit.'),
  })
  .prefault({})
  .describe('Upstream timeouts for this provider.');

const modelEntrySchema = z.union([
  glob,
  z.strictObject({
    id: z.string().min(1).describe('The id clients use.'),
    upstream: z.string().min(1).optional().describe('The id sent upstream, when it differs.'),
  }),
]);

const mockSchema = z
  .strictObject({
    latency: duration('mock.latency').default(0).describe('Delay before the first byte.'),
    'tokens-per-second': z.number().nonnegative().default(0).describe('Streaming pace; 0 streams as fast as possible.'),
    reply: z.string().default('Hello from the ai-proxy mock provider.').describe('Text the mock answers with.'),
  })
  .prefault({})
  .describe('Behaviour of a mock provider (ignored by other types).');

const providerSchema = z.strictObject({
  name: name.describe('Unique provider name; also usable as a model prefix (name/model).'),
  type: z.enum(providerTypes).describe('Upstream API: openai, anthropic, gemini, openai-compatible (vLLM, Ollama, DeepSeek, ...) or the built-in mock.'),
  'base-url': httpUrl.optional().describe('Default per type: api.openai.com/v1, api.anthropic.com, generativelanguage.googleapis.com.'),
  'api-keys': z.array(apiKeySchema).default([]).describe('Upstream keys; several are used per the strategy.'),
  strategy: z.enum(['round-robin', 'fill-first', 'weighted']).default('round-robin').describe('How requests are spread over api-keys: in turn, first healthy key first, or by weight.'),
  models: z.array(modelEntrySchema).default([]).describe('Model ids or globs served by this provider.'),
  exclude: z.array(glob).default([]).describe('Model globs never routed here.'),
  prefix: z.string().min(1).optional().describe('Extra prefix accepted in model ids (prefix/model).'),
  disabled: z.boolean().default(false).describe('Keep the provider in the file but route nothing to it.'),
  headers: z.record(z.string(), z.string()).default({}).describe('Extra headers sent upstream.'),
  timeouts: timeoutsSchema,
  proxy: httpUrl.optional().describe('Outbound HTTP proxy for this provider; wins over HTTPS_PROXY, HTTP_PROXY and NO_PROXY, which apply otherwise (see operations.md).'),
  'max-concurrent': z.number().int().nonnegative().default(0).describe('Concurrent upstream requests; 0 means no cap.'),
  'wire-api': z.enum(['chat', 'responses']).default('chat').describe('OpenAI API an openai-compatible upstream speaks (a chat or Responses request of the other kind is translated); for both OpenAI types, the API Anthropic and Gemini requests are translated to.'),
  'anthropic-version': z.string().default('2023-06-01').describe('anthropic-version header sent to Anthropic upstreams when the client sends none.'),
  mock: mockSchema,
});

const retrySchema = z
  .strictObject({
    attempts: z.number().int().min(1).max(20).default(3).describe('Attempts per request across credentials, providers and fallbacks.'),
    'backoff-base': duration('retry.backoff-base').default(100).describe('First backoff; doubled per attempt, with full jitter.'),
    'backoff-max': duration('retry.backoff-max').default(5_000).describe('Upper bound of one backoff.'),
    'total-timeout': duration('retry.total-timeout').default(60_000).describe('No new attempt starts after this.'),
  })
  .prefault({})
  .describe('Retries and failover, before the first byte reaches the client.');

const cooldownSchema = z
  .strictObject({
    'rate-limit': duration('cooldown.rate-limit').default(60_000).describe('Used when a 429 gives no Retry-After.'),
    'server-error': duration('cooldown.server-error').default(10_000).describe('After a 5xx answer.'),
    'network-error': duration('cooldown.network-error').default(10_000).describe('After a connection error or timeout.'),
  })
  .prefault({})
  .describe('How long an upstream key is left out after a failure; kept across reloads.');

const modelsSchema = z
  .strictObject({
    aliases: z.record(z.string(), z.string()).default({}).describe('alias → model id.'),
    fallbacks: z.record(z.string(), z.array(z.string())).default({}).describe('model id → models tried in order when it fails.'),
  })
  .prefault({})
  .describe('Model aliases and fallbacks, across providers.');

const translationSchema = z
  .strictObject({
    unsupported: z
      .enum(['omit', 'reject'])
      .default('omit')
      .describe(
        'What a cross-format request does with a tool or history item the upstream cannot take (a hosted tool without an equivalent there, its results): omit sends the request without it, logs a warning and names it in the x-ai-proxy-omitted response header; reject answers 400 naming it, and nothing goes upstream.',
      ),
  })
  .prefault({})
  .describe('Cross-format translation (docs/translation.md).');

const priceSchema = z.strictObject({
  input: z.number().nonnegative().describe('USD per million input tokens (uncached).'),
  output: z.number().nonnegative().describe('USD per million output tokens.'),
  cached: z.number().nonnegative().optional().describe('USD per million cached input tokens; default the input price.'),
  reasoning: z.number().nonnegative().optional().describe('USD per million reasoning tokens (counted within the output); default the output price.'),
});

const usageSchema = z
  .strictObject({
    ledger: z.boolean().default(true).describe('Record every model request (never its content) in the usage ledger file.'),
    file: z.string().min(1).optional().describe('Ledger file. Default: $STATE_DIRECTORY/usage.db (systemd StateDirectory=), /var/lib/ai-proxy/usage.db (root) or $XDG_STATE_HOME/ai-proxy/usage.db. A reload cannot change it.'),
    retention: duration('usage.retention').default(90 * 86_400_000).describe('Records older than this are deleted (checked at start and hourly); 0 keeps them forever.'),
  })
  .prefault({})
  .describe('The usage ledger: one row per model request, read by `ai-proxy usage` and /admin/usage.');
const redisUrl = z
  .url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' })
  .register(configTypes, { type: 'URL', expected: 'a redis:// or rediss:// URL such as redis://127.0.0.1:6379' });

const sharedStateSchema = z
  .strictObject({
    redis: redisUrl.describe('Redis every instance of the fleet uses (redis://[:password@]host:port[/db], rediss:// for TLS); usually ${VAR} or ${file:PATH} when it holds a password.'),
    prefix: z.string().min(1).default('ai-proxy:').describe('Put before every key and channel name, so that several fleets (or other programs) can share one Redis.'),
    required: z.boolean().default(false).describe('Refuse to start when Redis cannot be reached; false: start on local state, say so, and join when Redis answers.'),
    'command-timeout': duration('shared-state.command-timeout').default(100).describe('Longest a request waits on Redis; past it the request is decided on local state and Redis counts as away until it answers again.'),
    'connect-timeout': duration('shared-state.connect-timeout').default(2_000).describe('How long a start waits for Redis before going on without it (or failing, with required).'),
  })
  .optional()
  .describe('Limits, upstream-key cooldowns, budgets and usage totals shared by several instances through Redis (docs/scaling.md). A reload cannot change it. Unset: each instance keeps its own.');

export const configSchema = z.strictObject({
  listen: listenSchema,
  'allow-unauthenticated': z.boolean().default(false).describe('Allow a non-loopback listen address without client keys.'),
  'pid-file': z
    .string()
    .min(1)
    .optional()
    .describe('PID file (and the control socket beside it). Default: $RUNTIME_DIRECTORY/ai-proxy.pid, /run/ai-proxy/ai-proxy.pid (root), $XDG_RUNTIME_DIR/ai-proxy/ai-proxy.pid or ~/.local/state/ai-proxy/ai-proxy.pid. A reload cannot change it.'),
  'shutdown-timeout': duration('shutdown-timeout').default(30_000).describe('Time in-flight requests get to finish on stop.'),
  'shutdown-delay': duration('shutdown-delay').default(0).describe('Time /readyz answers 503 before the listener closes.'),
  'startup-timeout': duration('startup-timeout').default(30_000).describe('How long run -d waits for the gateway to serve (and a restart for its new server).'),
  'restart-drain-timeout': duration('restart-drain-timeout')
    .default(900_000)
    .describe('After a restart, how long the old server gets to finish its requests and streams while the new one takes every new connection; what outlives it is cut with an error event. Long, since LLM streams are.'),
  user: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'expected a user name or a numeric uid')
    .optional()
    .describe('Run the server child as this user (name or uid), like nginx\'s workers: the launcher, started as root, binds the port and reads the config and secrets, the server does the rest unprivileged. Needs a launcher running as root; leave unset under the shipped systemd unit (DynamicUser).'),
  group: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'expected a group name or a numeric gid')
    .optional()
    .describe('The server child\'s group (name or gid). Default: the user\'s primary group.'),
  'watch-config': z.boolean().default(true).describe('Reload when the config file changes on disk.'),
  log: logSchema,
  server: serverSchema,
  'client-keys': z.array(clientKeySchema).default([]).describe('Keys clients must present (Authorization: Bearer, x-api-key or x-goog-api-key). None: no auth, loopback only.'),
  admin: z
    .strictObject({
      key: z.string().min(8, 'expected a key of at least 8 characters').optional().describe('Key for /admin/*; usually ${VAR} or ${file:PATH}. Unset: /admin is off.'),
    })
    .prefault({})
    .describe('The /admin endpoints: the redacted config, the routing table, credential health, and request captures (POST /admin/capture, ai-proxy debug capture).'),
  providers: z.array(providerSchema).default([]).describe('Upstream providers, tried in this order when several serve a model.'),
  models: modelsSchema,
  retry: retrySchema,
  cooldown: cooldownSchema,
  translation: translationSchema,
  pricing: z
    .record(glob, priceSchema)
    .default({})
    .describe('Model id or glob → price. The id sent upstream is looked up first, then the configured id; an exact id wins over a glob, then globs in file order. A model without a price costs null (unknown), not zero.'),
  usage: usageSchema,
  'shared-state': sharedStateSchema,
});

/** The config as written (kebab-case keys). */
export type RawConfig = z.output<typeof configSchema>;

type Camel<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S;
/** Records keep their keys at run time; at type level a string index is unaffected by Camel. */
export type Camelized<T> = T extends readonly (infer U)[]
  ? Camelized<U>[]
  : T extends object
    ? { [K in keyof T as K extends string ? Camel<K> : K]: Camelized<T[K]> }
    : T;

/** The config the program uses: validated, defaults applied, secrets resolved, camelCase keys. */
export type Config = Camelized<RawConfig>;
export type ProviderConfig = Config['providers'][number];
export type ClientKeyConfig = Config['clientKeys'][number];
