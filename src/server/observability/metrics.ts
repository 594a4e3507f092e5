/**
 * Prometheus metrics. The registry, its exposition and the process metrics are prom-client's;
 * what requests update are the lighter series of ./series.ts. Gauges that mirror state (in
 * flight, cooldowns, generation) are read at scrape time, so the hot path never updates them.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from './series.ts';

export interface MetricSources {
  inFlight(): number;
  streams(): number;
  generation(): number;
  cooldowns(): ReadonlyArray<{ provider: string; cooling: number }>;
  droppedLogLines(): number;
}

export interface SharedStateSource {
  up: boolean;
  outages: number;
  localDecisions: number;
}

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class Metrics {
  readonly registry = new Registry();
  readonly requests: HotCounter<'route' | 'model' | 'provider' | 'status'>;
  readonly duration: HotHistogram<'route' | 'provider'>;
  readonly ttfb: HotHistogram<'route' | 'provider'>;
  readonly attempts: HotCounter<'provider' | 'outcome'>;
  readonly retries: HotCounter<'provider'>;
  readonly tokens: HotCounter<'direction' | 'model' | 'provider'>;
  readonly reloads: HotCounter<'source' | 'outcome'>;
  /** Usage per client key (its name), provider and configured model id, by token kind. */
  readonly usageTokens: HotCounter<'client' | 'provider' | 'model' | 'kind'>;
  readonly cost: HotCounter<'client' | 'provider' | 'model'>;
  readonly budgetRefusals: HotCounter<'client'>;
  readonly ledgerRecords: HotCounter<'outcome'>;
  readonly ledgerUp: Gauge;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'ai_proxy_' });
    this.requests = new HotCounter({ name: 'ai_proxy_requests_total', help: 'Requests answered, by route, model, provider and status', labelNames: ['route', 'model', 'provider', 'status'], registers });
    this.duration = new HotHistogram({ name: 'ai_proxy_request_duration_seconds', help: 'Time from request to the end of the response', labelNames: ['route', 'provider'], buckets: latencyBuckets, registers });
    this.ttfb = new HotHistogram({ name: 'ai_proxy_time_to_first_byte_seconds', help: 'Time from the upstream request to its first response byte', labelNames: ['route', 'provider'], buckets: latencyBuckets, registers });
    this.attempts = new HotCounter({ name: 'ai_proxy_upstream_attempts_total', help: 'Upstream attempts, by provider and outcome', labelNames: ['provider', 'outcome'], registers });
    this.retries = new HotCounter({ name: 'ai_proxy_retries_total', help: 'Attempts after the first one of a request', labelNames: ['provider'], registers });
    this.tokens = new HotCounter({ name: 'ai_proxy_tokens_total', help: 'Tokens reported by upstreams, in and out', labelNames: ['direction', 'model', 'provider'], registers });
    this.reloads = new HotCounter({ name: 'ai_proxy_reloads_total', help: 'Config reloads, by source and outcome', labelNames: ['source', 'outcome'], registers });
    this.usageTokens = new HotCounter({ name: 'ai_proxy_usage_tokens_total', help: 'Tokens by client key, provider, configured model and kind (input, output, cached, reasoning)', labelNames: ['client', 'provider', 'model', 'kind'], registers });
    this.cost = new HotCounter({ name: 'ai_proxy_cost_usd_total', help: 'Cost in USD from the pricing table, by client key, provider and configured model (priced requests only)', labelNames: ['client', 'provider', 'model'], registers });
    this.budgetRefusals = new HotCounter({ name: 'ai_proxy_budget_refusals_total', help: 'Requests refused because the client key spent its budget', labelNames: ['client'], registers });
    this.ledgerRecords = new HotCounter({ name: 'ai_proxy_ledger_records_total', help: 'Usage ledger records, by outcome: written, or dropped (write_failed, backlog)', labelNames: ['outcome'], registers });
    this.ledgerUp = new Gauge({ name: 'ai_proxy_ledger_up', help: '1 while the usage ledger is writable, 0 while writes fail (or it is off)', registers });
    new Gauge({ name: 'ai_proxy_in_flight_requests', help: 'Requests in flight', registers, collect() { this.set(sources.inFlight()); } });
    new Gauge({ name: 'ai_proxy_open_streams', help: 'Streaming responses in flight', registers, collect() { this.set(sources.streams()); } });
    new Gauge({ name: 'ai_proxy_config_generation', help: 'Generation of the config in use', registers, collect() { this.set(sources.generation()); } });
    new Gauge({ name: 'ai_proxy_access_log_dropped_lines', help: 'Access log lines dropped because the log sink stalled', registers, collect() { this.set(sources.droppedLogLines()); } });
    new Gauge({
      name: 'ai_proxy_cooldowns_active',
      help: 'Upstream credentials cooling down, by provider',
      labelNames: ['provider'],
      registers,
      collect() {
        this.reset();
        for (const { provider, cooling } of sources.cooldowns()) this.set({ provider }, cooling);
      },
    });
  }

  /** Only with shared-state: without it the series would read as "Redis away". */
  registerSharedState(source: SharedStateSource): void {
    const registers = [this.registry];
    new Gauge({ name: 'ai_proxy_shared_state_up', help: 'shared-state: 1 while Redis answers; 0 while it is away and limits, cooldowns and budgets are this instance\'s own', registers, collect() { this.set(source.up ? 1 : 0); } });
    new Counter({ name: 'ai_proxy_shared_state_outages_total', help: 'shared-state: times Redis went away (closed, unreachable or a command timed out)', registers, collect() { this.reset(); this.inc(source.outages); } });
    new Counter({ name: 'ai_proxy_shared_state_local_decisions_total', help: 'shared-state: rate-limit checks decided on local state because Redis was away', registers, collect() { this.reset(); this.inc(source.localDecisions); } });
  }
}
