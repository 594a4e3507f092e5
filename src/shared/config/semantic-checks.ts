/**
 * Checks that need the whole config, run after the schema accepted each value on its own.
 * Messages never contain a key's value: a duplicated key is named by the entries that share it.
 */
import { createHash } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { PathSegment } from './introspect.ts';
import { providerNeeds, type Config, type ProviderNeeds } from './schema.ts';

export interface SemanticProblem {
  path: PathSegment[];
  message: string;
}

function isUnder(path: readonly PathSegment[], unresolved: readonly (readonly PathSegment[])[]): boolean {
  return unresolved.some((u) => u.length <= path.length && u.every((segment, i) => segment === path[i]));
}

/** `unresolved`: paths whose `${…}` failed; their placeholder text must not count as a key. */
export function semanticChecks(config: Config, unresolved: readonly (readonly PathSegment[])[] = []): SemanticProblem[] {
  const problems: SemanticProblem[] = [];

  const providerNames = new Map<string, number>();
  config.providers.forEach((provider, index) => {
    const first = providerNames.get(provider.name);
    if (first !== undefined) problems.push({ path: ['providers', index, 'name'], message: `provider name "${provider.name}" is already used by providers[${first}]; names must be unique` });
    else providerNames.set(provider.name, index);
    const needs: ProviderNeeds = providerNeeds[provider.type];
    if (needs.apiKeys !== null && provider.apiKeys.length === 0 && !provider.disabled) {
      problems.push({
        path: ['providers', index, 'api-keys'],
        message: `a provider of type ${provider.type} needs at least one upstream key, e.g. api-keys: ["\${${needs.apiKeys}}"]`,
      });
    }
    if (needs.baseUrl !== null && provider.baseUrl === undefined) {
      problems.push({ path: ['providers', index], message: `an ${provider.type} provider needs base-url, e.g. ${needs.baseUrl}` });
    }
  });

  const clientNames = new Map<string, number>();
  // Compared by digest so that a plain key and another entry's sha256 of the same key also clash.
  const digests = new Map<string, number>();
  config.clientKeys.forEach((clientKey, index) => {
    const first = clientNames.get(clientKey.name);
    if (first !== undefined) problems.push({ path: ['client-keys', index, 'name'], message: `client key name "${clientKey.name}" is already used by client-keys[${first}]; names must be unique` });
    else clientNames.set(clientKey.name, index);
    let digest: string | undefined;
    if (clientKey.key !== undefined && !isUnder(['client-keys', index, 'key'], unresolved)) digest = createHash('sha256').update(clientKey.key).digest('hex');
    else if (clientKey.sha256 !== undefined) digest = clientKey.sha256.toLowerCase();
    if (digest === undefined) return;
    const same = digests.get(digest);
    if (same !== undefined) {
      problems.push({
        path: ['client-keys', index, clientKey.key !== undefined ? 'key' : 'sha256'],
        message: `client-keys[${index}] ("${clientKey.name}") has the same key as client-keys[${same}]; each key must be unique so a request maps to one name`,
      });
    } else digests.set(digest, index);
  });

  const aliases = config.models.aliases;
  const reported = new Set<string>();
  for (const alias of Object.keys(aliases)) {
    if (aliases[alias] === alias) {
      problems.push({ path: ['models', 'aliases', alias], message: `alias "${alias}" points to itself` });
      reported.add(alias);
      continue;
    }
    const chain = [alias];
    let next = aliases[alias];
    while (next !== undefined && Object.hasOwn(aliases, next) && !chain.includes(next)) {
      chain.push(next);
      next = aliases[next];
    }
    if (next === alias && !chain.some((a) => reported.has(a))) {
      for (const a of chain) reported.add(a);
      problems.push({ path: ['models', 'aliases', alias], message: `aliases form a cycle: ${[...chain, alias].join(' → ')}` });
    }
  }

  if (config.retry.backoffBase > config.retry.backoffMax) {
    problems.push({ path: ['retry', 'backoff-base'], message: 'must not be larger than retry.backoff-max' });
  }
  return problems;
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost: addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare)?.[1] ?? bare;
  if (isIP(v4) === 4) return loopback.check(v4, 'ipv4');
  if (isIP(bare) === 6) return loopback.check(bare, 'ipv6');
  return false;
}

/**
 * The open-relay guard: the sentence an operator reads when the gateway would serve the
 * upstream keys to anyone who can reach it. Null when the config is safe.
 */
export function unsafeListenReason(config: Config, hostOrigin = 'listen.host'): string | null {
  if (config.allowUnauthenticated || config.clientKeys.length > 0 || isLoopback(config.listen.host)) return null;
  return (
    `refusing to listen on ${config.listen.host} (${hostOrigin}) without client keys: anyone who can reach that address ` +
    'could spend the upstream provider keys configured here, an open relay. Either add client-keys so clients must ' +
    'authenticate, or set allow-unauthenticated: true if something in front of the gateway already restricts who can reach it.'
  );
}
