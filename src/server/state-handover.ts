/**
 * What the gateway has learnt, handed from a restart's old server to the new one through the
 * launcher (DESIGN §1; docs/operations.md, "Restarts and upgrades"): upstream-key cooldowns and
 * rotation, client rate-limit windows, budget spend (when kept in this process). Each stateful part exports a section of its own shape; a
 * section the new code does not know, or that fails to import, is skipped with the rest kept, so a
 * restart onto a newer release never fails on state.
 */
import type { GatewayState } from '../shared/ipc.ts';
import type { CredentialState } from './routing/credentials.ts';
import type { LimiterState } from './auth/rate-limit.ts';
import type { Snapshot } from './snapshot.ts';
import { InMemorySpendStore, type SpendState } from './usage/spend-store.ts';

interface Sections {
  credentials: CredentialState;
  limits: LimiterState;
  spend: SpendState;
}

export function exportGatewayState(snapshot: Snapshot | null, kind: GatewayState['kind']): GatewayState {
  const sections: Partial<Sections> = {};
  if (snapshot !== null) {
    sections.credentials = snapshot.credentials.exportState(kind);
    sections.limits = snapshot.limits.exportState(kind);
    // A shared store (Redis) is every instance's already: nothing to hand over.
    const store = snapshot.budgets.store;
    if (store instanceof InMemorySpendStore) sections.spend = store.exportState(kind);
  }
  return { kind, at: Date.now(), sections };
}

export function importGatewayState(snapshot: Snapshot, state: GatewayState): void {
  const sections = state.sections as Partial<Sections>;
  if (isObject(sections.credentials)) snapshot.credentials.importState(sections.credentials, state.kind);
  if (isObject(sections.limits)) snapshot.limits.importState(sections.limits, state.kind, Date.now());
  const store = snapshot.budgets.store;
  if (Array.isArray(sections.spend) && store instanceof InMemorySpendStore) store.importState(sections.spend, state.kind);
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}
