/**
 * Everything a request needs from the config, built once per generation and swapped atomically
 * on reload (DESIGN §3): a request reads `gateway.snapshot` once and finishes on that object,
 * whatever reloads happen meanwhile. State that must outlive a reload (credential cooldowns,
 * rate-limit windows, upstream connection pools) is carried over from the previous snapshot.
 */
import type { LoadedConfig } from '../shared/config/load.ts';
import type { Config } from '../shared/config/schema.ts';
import { AdminKey } from './auth/admin-key.ts';
import { ClientKeys } from './auth/client-keys.ts';
import { RateLimiter } from './auth/rate-limit.ts';
import { UpstreamPool } from './proxy/upstream-pool.ts';
import { CredentialPool } from './routing/credentials.ts';
import type { Fleet } from './shared-state/fleet.ts';
import { SharedRateLimiter } from './shared-state/shared-rate-limit.ts';
import { ModelTable } from './routing/model-table.ts';
import { retryPolicy, type RetryPolicy } from './routing/retry.ts';
import { Budgets } from './usage/budget.ts';
import { PriceTable } from './usage/pricing.ts';
import { InMemorySpendStore } from './usage/spend-store.ts';

export interface Snapshot {
  readonly generation: number;
  readonly hash: string;
  readonly fileHash: string | null;
  readonly path: string | null;
  readonly config: Config;
  readonly models: ModelTable;
  readonly upstreams: UpstreamPool;
  readonly credentials: CredentialPool;
  readonly retry: RetryPolicy;
  readonly clients: ClientKeys;
  /** The fleet's limiter (Redis) with shared-state, else this instance's own. */
  readonly limits: RateLimiter | SharedRateLimiter;
  readonly admin: AdminKey;
  readonly prices: PriceTable;
  /** The spend store is the process's (first snapshot), carried into every later one. */
  readonly budgets: Budgets;
}

export function buildSnapshot(loaded: LoadedConfig, generation: number, previous: Snapshot | null, fleet: Fleet | null = null): Snapshot {
  const config = loaded.config;
  return {
    generation,
    hash: loaded.hash,
    fileHash: loaded.fileHash,
    path: loaded.path,
    config,
    models: new ModelTable(config),
    upstreams: UpstreamPool.build(config.providers, previous?.upstreams ?? null),
    credentials: previous === null ? new CredentialPool(config, fleet === null ? {} : { onCooldown: fleet.cooldowns.started }) : previous.credentials.rebuild(config),
    retry: retryPolicy(config),
    clients: new ClientKeys(config.clientKeys),
    limits: previous !== null ? previous.limits.rebuild(config.clientKeys) : fleet === null ? new RateLimiter(config.clientKeys) : new SharedRateLimiter(config.clientKeys, fleet.state, new RateLimiter(config.clientKeys)),
    admin: new AdminKey(config.admin.key),
    prices: new PriceTable(config.pricing),
    budgets: budgetsFor(config, previous, fleet),
  };
}

function budgetsFor(config: Config, previous: Snapshot | null, fleet: Fleet | null): Budgets {
  if (previous !== null) return new Budgets(config.clientKeys, previous.budgets.store, previous.budgets.status);
  // The fleet's spend (Redis): not seeded from this instance's ledger, it holds every instance's.
  if (fleet !== null) return new Budgets(config.clientKeys, fleet.spend, fleet.spend);
  const store = new InMemorySpendStore();
  return new Budgets(config.clientKeys, store, store);
}

/** The top-level config sections that differ between two generations, for the reload verdict. */
export function changedSections(before: Config, after: Config): string[] {
  const changed: string[] = [];
  for (const key of Object.keys(after) as Array<keyof Config>) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) changed.push(key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
  }
  return changed;
}
