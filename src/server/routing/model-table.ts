/**
 * Model resolution: which providers can serve a model id, in which order, under which upstream
 * name. Built once per config generation; `resolve` is a cache hit for every id seen before. The
 * algorithm is documented for users in docs/routing.md; keep the two in step.
 */
import { AppError } from '../../shared/errors.ts';
import type { Config, ProviderConfig, ProviderType } from '../../shared/config/schema.ts';
import type { WireFormat } from '../../shared/wire-format.ts';
import type { ProviderDescriptor } from '../providers/descriptor.ts';
import { descriptorOf } from '../providers/registry.ts';
import { compileGlob, isGlob, literalPrefix, type ModelMatcher } from './glob.ts';

export interface RouteProvider {
  readonly name: string;
  readonly type: ProviderType;
  readonly descriptor: ProviderDescriptor;
  /** What a request it does not speak natively is translated to; `any` (mock) answers every client format natively. */
  readonly wire: WireFormat | 'any';
  /** The formats it takes without translation (from its descriptor, for this config). */
  readonly speaks: readonly WireFormat[];
  /** Position in `providers`: the final tie-breaker. */
  readonly index: number;
  readonly config: ProviderConfig;
}

/**
 * Why a provider is a candidate. `exact`: a listed id (possibly renamed upstream); `glob`: a
 * pattern in `models`; `any`: reached through its prefix while it lists no models at all.
 * `prefix` is the `name/` or `prefix/` the client used, null for a plain id.
 */
export interface MatchRule {
  readonly kind: 'exact' | 'glob' | 'any';
  readonly pattern: string;
  readonly prefix: string | null;
}

export interface Candidate {
  readonly provider: RouteProvider;
  /** The model id to send upstream. */
  readonly upstreamModel: string;
  readonly rule: MatchRule;
}

export interface ResolvedModel {
  readonly ok: true;
  /** The id the client sent. */
  readonly requested: string;
  /** After aliases: the id the candidates were matched for. */
  readonly model: string;
  /** Never empty. */
  readonly candidates: readonly Candidate[];
}

export interface UnknownModel {
  readonly ok: false;
  readonly requested: string;
  readonly model: string;
  readonly status: 404;
  /** For the client: says how to find valid ids. */
  readonly message: string;
}

export type Resolution = ResolvedModel | UnknownModel;

export interface ListedModel {
  readonly id: string;
  /** Providers serving it, in resolution order. */
  readonly providers: readonly string[];
  /** For an alias: the model id it stands for. */
  readonly aliasOf?: string;
}

export interface ListedGlob {
  readonly provider: string;
  readonly pattern: string;
}

export interface Explanation {
  readonly requested: string;
  /** `[requested, …, model]` when aliases applied, else `[requested]`. */
  readonly aliasChain: readonly string[];
  readonly model: string;
  readonly candidates: readonly { provider: string; upstreamModel: string; rule: MatchRule }[];
  readonly skipped: readonly { provider: string; reason: string }[];
  readonly fallbacks: readonly string[];
  readonly message?: string;
}

interface ExactEntry {
  readonly upstream: string;
  readonly rule: MatchRule;
}

interface GlobEntry {
  readonly pattern: string;
  readonly matcher: ModelMatcher;
  readonly specificity: number;
}

interface ProviderRules {
  readonly provider: RouteProvider;
  readonly exact: ReadonlyMap<string, ExactEntry>;
  /** Most specific first. */
  readonly globs: readonly GlobEntry[];
  readonly excludes: readonly GlobEntry[];
  readonly listsNothing: boolean;
}

interface Match {
  readonly candidate: Candidate;
  /** 0 for exact, 1 for glob, 2 for any. */
  readonly tier: number;
  readonly specificity: number;
}

/** Distinct ids are client-controlled and unbounded: bound the cache, start over when full. */
const CACHE_LIMIT = 4096;
const NO_FALLBACKS: readonly string[] = Object.freeze([]);

export function unknownModelMessage(model: string): string {
  return `The model '${model}' does not exist or is not served by this gateway. List the available model ids with GET /v1/models.`;
}

export class ModelTable {
  readonly #rules: readonly ProviderRules[];
  readonly #byName: ReadonlyMap<string, RouteProvider>;
  /** `name` and `prefix` → the enabled providers answering to it, in config order. */
  readonly #prefixes: ReadonlyMap<string, readonly ProviderRules[]>;
  /** alias → chain after it, ending at the concrete id. */
  readonly #aliases: ReadonlyMap<string, readonly string[]>;
  readonly #fallbacks: ReadonlyMap<string, readonly string[]>;
  readonly #disabled: readonly RouteProvider[];
  readonly #cache = new Map<string, Resolution>();
  readonly #models: readonly ListedModel[];
  readonly #globs: readonly ListedGlob[];

  constructor(config: Pick<Config, 'providers' | 'models'>) {
    const rules: ProviderRules[] = [];
    const byName = new Map<string, RouteProvider>();
    const prefixes = new Map<string, ProviderRules[]>();
    const disabled: RouteProvider[] = [];
    config.providers.forEach((pc, index) => {
      const descriptor = descriptorOf(pc.type);
      const provider: RouteProvider = Object.freeze({ name: pc.name, type: pc.type, descriptor, wire: descriptor.translatesTo(pc), speaks: descriptor.speaks(pc), index, config: pc });
      byName.set(pc.name, provider);
      if (pc.disabled) {
        disabled.push(provider);
        return;
      }
      const r = buildRules(provider);
      rules.push(r);
      for (const head of pc.prefix === undefined || pc.prefix === pc.name ? [pc.name] : [pc.name, pc.prefix]) {
        const group = prefixes.get(head);
        if (group === undefined) prefixes.set(head, [r]);
        else group.push(r);
      }
    });
    this.#rules = rules;
    this.#byName = byName;
    this.#prefixes = prefixes;
    this.#disabled = disabled;
    this.#aliases = resolveAliasChains(config.models.aliases);
    this.#fallbacks = buildFallbacks(config.models.fallbacks, this.#aliases);
    this.#models = this.#listModels(config.models.aliases);
    this.#globs = Object.freeze(rules.flatMap((r) => r.globs.map((g) => Object.freeze({ provider: r.provider.name, pattern: g.pattern }))));
  }

  /** The ordered candidates for a client's model id, or the 404 to answer. */
  resolve(modelId: string): Resolution {
    const cached = this.#cache.get(modelId);
    if (cached !== undefined) return cached;
    const chain = this.#aliases.get(modelId);
    const model = chain === undefined ? modelId : (chain[chain.length - 1] as string);
    const candidates = this.#match(model);
    const resolution: Resolution =
      candidates.length > 0
        ? Object.freeze({ ok: true as const, requested: modelId, model, candidates })
        : Object.freeze({ ok: false as const, requested: modelId, model, status: 404 as const, message: unknownModelMessage(modelId) });
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(modelId, resolution);
    return resolution;
  }

  /**
   * Model ids to try, in order, when `modelId` fails on every candidate. Looked up for the id
   * itself, then along its alias chain. Not transitive: a fallback's own fallbacks are not added.
   */
  fallbacks(modelId: string): readonly string[] {
    return this.#fallbacks.get(modelId) ?? NO_FALLBACKS;
  }

  /** Concrete ids for GET /v1/models: listed ids, then aliases that resolve. */
  listModels(): readonly ListedModel[] {
    return this.#models;
  }

  /** Globs from `models` (not listable as ids), for /admin/routes. */
  listGlobs(): readonly ListedGlob[] {
    return this.#globs;
  }

  provider(name: string): RouteProvider | undefined {
    return this.#byName.get(name);
  }

  /** Which rule produced each candidate and why other providers did not match (for /admin/routes). */
  explain(modelId: string): Explanation {
    const chain = this.#aliases.get(modelId);
    const aliasChain = chain === undefined ? [modelId] : [modelId, ...chain];
    const resolution = this.resolve(modelId);
    const model = resolution.model;
    const candidates = resolution.ok
      ? resolution.candidates.map((c) => ({ provider: c.provider.name, upstreamModel: c.upstreamModel, rule: c.rule }))
      : [];
    const chosen = new Set(candidates.map((c) => c.provider));
    const prefixed = resolution.ok ? resolution.candidates[0]?.rule.prefix ?? null : null;
    const skipped: { provider: string; reason: string }[] = [];
    for (const p of this.#disabled) skipped.push({ provider: p.name, reason: 'disabled' });
    for (const r of this.#rules) {
      if (chosen.has(r.provider.name)) continue;
      if (prefixed !== null) {
        skipped.push({ provider: r.provider.name, reason: `not named by the prefix '${prefixed}/'` });
        continue;
      }
      const excludedBy = r.excludes.find((e) => e.matcher(model));
      if (excludedBy !== undefined) skipped.push({ provider: r.provider.name, reason: `excluded by '${excludedBy.pattern}'` });
      else skipped.push({ provider: r.provider.name, reason: 'no entry in models matches' });
    }
    return {
      requested: modelId,
      aliasChain,
      model,
      candidates,
      skipped,
      fallbacks: this.fallbacks(modelId),
      ...(resolution.ok ? {} : { message: resolution.message }),
    };
  }

  #match(model: string): readonly Candidate[] {
    const slash = model.indexOf('/');
    if (slash > 0) {
      const head = model.slice(0, slash);
      const group = this.#prefixes.get(head);
      if (group !== undefined) {
        // The prefix names the provider explicitly; only when it yields nothing is the whole id
        // (which may legitimately contain '/') matched as a plain id.
        const viaPrefix = collect(group, model.slice(slash + 1), head);
        if (viaPrefix.length > 0) return viaPrefix;
      }
    }
    return collect(this.#rules, model, null);
  }

  #listModels(aliases: Readonly<Record<string, string>>): readonly ListedModel[] {
    const seen = new Set<string>();
    const list: ListedModel[] = [];
    for (const r of this.#rules) {
      for (const id of r.exact.keys()) {
        if (seen.has(id) || this.#aliases.has(id)) continue;
        const resolution = this.resolve(id);
        if (!resolution.ok) continue;
        seen.add(id);
        list.push(Object.freeze({ id, providers: Object.freeze(resolution.candidates.map((c) => c.provider.name)) }));
      }
    }
    for (const alias of Object.keys(aliases)) {
      const resolution = this.resolve(alias);
      if (!resolution.ok || seen.has(alias)) continue;
      seen.add(alias);
      list.push(Object.freeze({ id: alias, aliasOf: resolution.model, providers: Object.freeze(resolution.candidates.map((c) => c.provider.name)) }));
    }
    return Object.freeze(list);
  }
}

function buildRules(provider: RouteProvider): ProviderRules {
  const exact = new Map<string, ExactEntry>();
  const globs: GlobEntry[] = [];
  for (const entry of provider.config.models) {
    const id = typeof entry === 'string' ? entry : entry.id;
    const upstream = typeof entry === 'string' ? entry : (entry.upstream ?? entry.id);
    if (typeof entry === 'string' && isGlob(entry)) {
      globs.push({ pattern: entry, matcher: compileGlob(entry), specificity: literalPrefix(entry).length });
    } else if (!exact.has(id)) {
      exact.set(id, { upstream, rule: Object.freeze({ kind: 'exact', pattern: id, prefix: null }) });
    }
  }
  // Stable sort: equal specificity keeps the order written in the config.
  globs.sort((a, b) => b.specificity - a.specificity);
  const excludes = provider.config.exclude.map((pattern) => ({ pattern, matcher: compileGlob(pattern), specificity: 0 }));
  return { provider, exact, globs, excludes, listsNothing: provider.config.models.length === 0 };
}

/**
 * The candidates among `rules` for `model` (the id without any prefix): every provider at most
 * once, by its best rule; exact ids first, then globs by literal-prefix length, then providers
 * reached only by prefix; config order breaks ties.
 */
function collect(rules: readonly ProviderRules[], model: string, prefix: string | null): readonly Candidate[] {
  const matches: Match[] = [];
  for (const r of rules) {
    if (r.excludes.some((e) => e.matcher(model))) continue;
    const exact = r.exact.get(model);
    if (exact !== undefined) {
      const rule = prefix === null ? exact.rule : { ...exact.rule, prefix };
      matches.push({ candidate: { provider: r.provider, upstreamModel: exact.upstream, rule }, tier: 0, specificity: 0 });
      continue;
    }
    const glob = r.globs.find((g) => g.matcher(model));
    if (glob !== undefined) {
      const rule: MatchRule = { kind: 'glob', pattern: glob.pattern, prefix };
      matches.push({ candidate: { provider: r.provider, upstreamModel: model, rule }, tier: 1, specificity: glob.specificity });
      continue;
    }
    if (prefix !== null && r.listsNothing) {
      matches.push({ candidate: { provider: r.provider, upstreamModel: model, rule: { kind: 'any', pattern: '', prefix } }, tier: 2, specificity: 0 });
    }
  }
  // Array.prototype.sort is stable, and `rules` is in config order.
  matches.sort((a, b) => a.tier - b.tier || b.specificity - a.specificity);
  return Object.freeze(matches.map((m) => Object.freeze(m.candidate)));
}

/** alias → the ids it leads through, last one concrete. A cycle makes the config invalid. */
function resolveAliasChains(aliases: Readonly<Record<string, string>>): Map<string, readonly string[]> {
  const chains = new Map<string, readonly string[]>();
  for (const alias of Object.keys(aliases)) {
    const chain: string[] = [];
    const seen = new Set([alias]);
    let current = aliases[alias] as string;
    for (;;) {
      if (seen.has(current)) {
        throw new AppError('E_CONFIG_INVALID', `models.aliases has a cycle: ${[alias, ...chain, current].join(' → ')}. Point one of these aliases at a concrete model id.`);
      }
      chain.push(current);
      seen.add(current);
      const next = Object.hasOwn(aliases, current) ? aliases[current] : undefined;
      if (next === undefined) break;
      current = next;
    }
    chains.set(alias, Object.freeze(chain));
  }
  return chains;
}

/** For each id and alias: the first fallback list found along its alias chain. */
function buildFallbacks(fallbacks: Readonly<Record<string, readonly string[]>>, aliases: ReadonlyMap<string, readonly string[]>): Map<string, readonly string[]> {
  const byId = new Map<string, readonly string[]>();
  for (const id of Object.keys(fallbacks)) {
    byId.set(id, Object.freeze((fallbacks[id] as readonly string[]).filter((f) => f !== id)));
  }
  for (const [alias, chain] of aliases) {
    if (byId.has(alias)) continue;
    for (const id of chain) {
      const list = byId.get(id);
      if (list !== undefined) {
        byId.set(alias, list);
        break;
      }
    }
  }
  return byId;
}
