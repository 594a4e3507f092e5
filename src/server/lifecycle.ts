/**
 * The server's Lifecycle (DESIGN §2): init → ready → reload* → shutdown, with observers.
 * Foreground and daemon mode run exactly this; only the observers differ (IPC to the launcher,
 * the log). Reloads are serialised, so every caller gets the verdict of its own reload; a reload
 * asked for while stopping is rejected rather than raced with the drain.
 */
import { toErrorReport, type ErrorReport } from '../shared/errors.ts';
import type { LoadedConfig } from '../shared/config/load.ts';
import type { ConfigInfo, GatewayState, ListenInfo, ReloadSource, ReloadVerdict } from '../shared/ipc.ts';

export interface ShutdownOptions {
  timeoutMs: number;
  delayMs: number;
  /**
   * A restart's drain: another server takes the new connections, so idle keep-alive connections
   * are left to close at their keep-alive timeout (a client that honours the server's hint never
   * reuses one as it closes) rather than all at once, which races a request already on its way.
   */
  polite?: boolean;
}

export interface ShutdownResult {
  forced: boolean;
}

/** What the Lifecycle drives: the gateway implements it. */
export interface Service {
  /**
   * The config comes from the launcher, which loads every one; a restart's server continues the
   * old one's generations and gets its `state`.
   */
  start(loaded: LoadedConfig, generation: number, state: GatewayState | null): Promise<{ listen: ListenInfo; config: ConfigInfo }>;
  reload(source: ReloadSource, loaded: LoadedConfig): Promise<ReloadVerdict>;
  /** Drain within the deadline, then force; resolves when nothing of the service is left running. */
  stop(options: ShutdownOptions, onDraining: (inFlight: number) => void): Promise<ShutdownResult>;
  /** Cut everything now (second SIGINT, or the launcher's order). */
  force(): void;
}

export type LifecycleEvent =
  | { type: 'ready'; listen: ListenInfo; config: ConfigInfo }
  | { type: 'fatal'; error: ErrorReport }
  | { type: 'reloaded'; id: number; verdict: ReloadVerdict }
  | { type: 'stopping'; reason: string }
  | { type: 'draining'; inFlight: number }
  | { type: 'stopped'; forced: boolean };

export type LifecycleObserver = (event: LifecycleEvent) => void;
export type Phase = 'init' | 'ready' | 'stopping' | 'stopped';

export class Lifecycle {
  #phase: Phase = 'init';
  #observers: LifecycleObserver[] = [];
  #reloads: Promise<unknown> = Promise.resolve();
  #stopping: Promise<ShutdownResult> | null = null;
  /** The config in force: from the start, then from each applied reload. */
  #current: { generation: number; hash: string } = { generation: 0, hash: '' };

  constructor(private readonly service: Service) {}

  get phase(): Phase {
    return this.#phase;
  }

  observe(observer: LifecycleObserver): void {
    this.#observers.push(observer);
  }

  #emit(event: LifecycleEvent): void {
    for (const observer of this.#observers) observer(event);
  }

  async start(loaded: LoadedConfig, generation: number, state: GatewayState | null): Promise<boolean> {
    try {
      const { listen, config } = await this.service.start(loaded, generation, state);
      this.#current = { generation: config.generation, hash: config.hash };
      this.#phase = 'ready';
      this.#emit({ type: 'ready', listen, config });
      return true;
    } catch (error) {
      this.#phase = 'stopped';
      this.#emit({ type: 'fatal', error: toErrorReport(error) });
      return false;
    }
  }

  reload(source: ReloadSource, id: number, loaded: LoadedConfig): Promise<ReloadVerdict> {
    const run = async (): Promise<ReloadVerdict> => {
      if (this.#phase !== 'ready') {
        const verdict: ReloadVerdict = {
          ok: false,
          source,
          at: new Date().toISOString(),
          generation: this.#current.generation,
          hash: this.#current.hash,
          error: { code: 'E_RELOAD_REJECTED', message: `reload refused: the gateway is ${this.#phase}` },
        };
        this.#emit({ type: 'reloaded', id, verdict });
        return verdict;
      }
      const verdict = await this.service.reload(source, loaded);
      if (verdict.ok) this.#current = { generation: verdict.generation, hash: verdict.hash };
      this.#emit({ type: 'reloaded', id, verdict });
      return verdict;
    };
    const next = this.#reloads.then(run, run);
    this.#reloads = next.catch(() => undefined);
    return next;
  }

  shutdown(options: ShutdownOptions, reason: string): Promise<ShutdownResult> {
    if (this.#stopping !== null) return this.#stopping;
    this.#phase = 'stopping';
    this.#emit({ type: 'stopping', reason });
    this.#stopping = this.service
      .stop(options, (inFlight) => this.#emit({ type: 'draining', inFlight }))
      .then((result) => {
        this.#phase = 'stopped';
        this.#emit({ type: 'stopped', forced: result.forced });
        return result;
      });
    return this.#stopping;
  }

  /** Escalate a running shutdown (or start one) so that it ends now. */
  force(reason: string): Promise<ShutdownResult> {
    const stopping = this.shutdown({ timeoutMs: 0, delayMs: 0 }, reason);
    this.service.force();
    return stopping;
  }
}
