/**
 * What happens to a model request's usage once it ends (one call, from the request handler's
 * `finish`): its cost from the pricing table, the usage metrics, the budget spend, and one
 * ledger row. Nothing here can fail a request: the ledger degrades on its own (./ledger.ts).
 */
import type { AccessRecord } from '../http/access-log.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Snapshot } from '../snapshot.ts';
import type { UsageWriter } from '../shared-state/usage-writer.ts';
import type { Ledger } from './ledger.ts';

export class UsageAccounting {
  ledger: Ledger | null = null;
  /** The fleet's usage totals in Redis (shared-state), else null. */
  shared: UsageWriter | null = null;

  constructor(private readonly metrics: Metrics) {}

  /** `route` and `model` are the bounded metric labels the handler already computed. */
  finish(snapshot: Snapshot, record: AccessRecord, status: number, now: number, route: string, model: string): void {
    const client = record.client ?? 'none';
    const cost = snapshot.prices.cost([record.upstreamModel, record.resolvedModel], { input: record.inputTokens, output: record.outputTokens, cached: record.cachedTokens, reasoning: record.reasoningTokens });
    if (record.inputTokens !== null || record.outputTokens !== null) {
      const provider = record.provider ?? 'none';
      const m = this.metrics;
      if (record.inputTokens !== null) m.usageTokens.inc({ client, provider, model, kind: 'input' }, record.inputTokens);
      if (record.outputTokens !== null) m.usageTokens.inc({ client, provider, model, kind: 'output' }, record.outputTokens);
      if (record.cachedTokens !== null && record.cachedTokens > 0) m.usageTokens.inc({ client, provider, model, kind: 'cached' }, record.cachedTokens);
      if (record.reasoningTokens !== null && record.reasoningTokens > 0) m.usageTokens.inc({ client, provider, model, kind: 'reasoning' }, record.reasoningTokens);
      if (cost !== null) {
        m.cost.inc({ client, provider, model }, cost);
        snapshot.budgets.add(client, cost, snapshot.budgets.now());
      }
    }
    this.shared?.add(client, now, { inputTokens: record.inputTokens, outputTokens: record.outputTokens, cachedTokens: record.cachedTokens, reasoningTokens: record.reasoningTokens, costUsd: cost });
    this.ledger?.record({
      ts: now,
      requestId: record.id,
      client,
      route,
      model: record.model,
      resolvedModel: record.resolvedModel,
      provider: record.provider,
      upstreamModel: record.upstreamModel,
      inputTokens: record.inputTokens,
      outputTokens: record.outputTokens,
      cachedTokens: record.cachedTokens,
      reasoningTokens: record.reasoningTokens,
      cost,
      status,
      latencyMs: now - record.startedAt,
      ttfbMs: record.ttfbMs,
      attempts: record.attempts,
      outcome: record.outcome,
    });
  }
}
