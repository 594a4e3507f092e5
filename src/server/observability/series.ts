/**
 * Counters and histograms for the request path, registered in a prom-client Registry (which
 * still formats the exposition). prom-client's own metrics sort, validate and hash the label
 * object on every update; these find a series by one map lookup per label value, and a
 * histogram observation bumps one bucket, cumulated only at scrape time. Six updates per
 * request made that difference worth a module (docs/decisions.md, "Metrics on the hot path").
 * Label values are the gateway's own (routes, provider names, bounded model ids), never raw
 * client input, so they need no validation here; prom-client escapes them when it formats.
 */
import type { Registry } from 'prom-client';

/** One line of the exposition, as prom-client's Registry reads it from `get()`. */
interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

interface Exposed {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Sample[];
}

type Labels<N extends string> = Readonly<Record<N, string | number>>;

interface Definition<N extends string> {
  name: string;
  help: string;
  labelNames: readonly N[];
  registers: readonly Registry[];
}

type Entry<S> = { labels: Record<string, string | number>; state: S };
/** One level per label, in `labelNames` order; the last level holds the entries. */
type Level<S> = Map<string | number, Level<S> | Entry<S>>;

abstract class Series<N extends string, S> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: Exposed['type'];
  readonly aggregator = 'sum' as const;
  protected readonly labelNames: readonly N[];
  /** Nested maps rather than one map keyed by the joined values: a lookup allocates nothing. */
  #root: Level<S> = new Map();
  protected entries: Entry<S>[] = [];

  constructor(definition: Definition<N>) {
    this.name = definition.name;
    this.help = definition.help;
    this.labelNames = definition.labelNames;
    for (const registry of definition.registers) registry.registerMetric(this as never);
  }

  protected stateFor(labels: Labels<N>): S {
    const names = this.labelNames;
    let level = this.#root;
    const last = names.length - 1;
    for (let i = 0; i < last; i++) {
      const value = labels[names[i] as N];
      let next = level.get(value) as Level<S> | undefined;
      if (next === undefined) level.set(value, (next = new Map()));
      level = next;
    }
    const value = labels[names[last] as N];
    const found = level.get(value) as Entry<S> | undefined;
    if (found !== undefined) return found.state;
    const copy: Record<string, string | number> = {};
    for (const name of names) copy[name] = labels[name];
    const entry = { labels: copy, state: this.initial() };
    level.set(value, entry);
    this.entries.push(entry);
    return entry.state;
  }

  protected abstract initial(): S;

  reset(): void {
    this.#root = new Map();
    this.entries = [];
  }
}

export class HotCounter<N extends string> extends Series<N, { value: number }> {
  readonly type = 'counter';

  inc(labels: Labels<N>, value = 1): void {
    this.stateFor(labels).value += value;
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }

  get(): Promise<Exposed> {
    const values: Sample[] = [];
    for (const { labels, state } of this.entries) values.push({ labels, value: state.value });
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}

interface HistogramState {
  /** Observations per bucket, not cumulative; the last slot is +Inf. */
  counts: Float64Array;
  sum: number;
}

export class HotHistogram<N extends string> extends Series<N, HistogramState> {
  readonly type = 'histogram';
  readonly #buckets: readonly number[];

  constructor(definition: Definition<N> & { buckets: readonly number[] }) {
    super(definition);
    this.#buckets = definition.buckets;
  }

  observe(labels: Labels<N>, value: number): void {
    const state = this.stateFor(labels);
    const buckets = this.#buckets;
    let i = 0;
    while (i < buckets.length && value > (buckets[i] as number)) i++;
    (state.counts[i] as number)++;
    state.sum += value;
  }

  protected initial(): HistogramState {
    return { counts: new Float64Array(this.#buckets.length + 1), sum: 0 };
  }

  get(): Promise<Exposed> {
    const values: Sample[] = [];
    for (const { labels, state } of this.entries) {
      let cumulative = 0;
      for (let i = 0; i <= this.#buckets.length; i++) {
        cumulative += state.counts[i] as number;
        const le = i < this.#buckets.length ? (this.#buckets[i] as number) : '+Inf';
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels, value: state.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: cumulative, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}
