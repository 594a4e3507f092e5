/**
 * One server child as the supervisor sees it: the process, the handshake (`hello` with the IPC
 * protocol, then `start` with the config, then `ready` or `fatal`), its phase, and the requests
 * the launcher makes of it that have an answer (ping, state). The supervisor gets the messages it
 * acts on; the ones with an answer are settled here.
 */
import type { ErrorReport } from '../shared/errors.ts';
import type { LoadedConfig } from '../shared/config/load.ts';
import { IPC_PROTOCOL, type ConfigInfo, type GatewayState, type LauncherMessage, type ListenInfo, type ServerInfo, type ServerMessage } from '../shared/ipc.ts';
import { describeExit, ServerProcess, type ServerExit } from './server-process.ts';

export type ChildPhase = ServerInfo['phase'];

/** The messages the supervisor acts on; the rest are answers settled by the child itself. */
export type ChildMessage = Extract<ServerMessage, { t: 'reloaded' } | { t: 'reload-request' } | { t: 'draining' } | { t: 'drained' } | { t: 'state' }>;

export type StartResult = { ok: true; listen: ListenInfo; config: ConfigInfo } | { ok: false; error: ErrorReport };

export interface ChildLoad {
  inFlight: number;
  streams: number;
}

export interface SpawnOptions {
  launch: ConstructorParameters<typeof ServerProcess>[0];
  listenFd: number;
  env: NodeJS.ProcessEnv;
  credentials: { uid: number; gid: number } | null;
  start: { config: LoadedConfig; generation: number; state: GatewayState | null };
  /** Where the child's output goes, for error messages ("its output is in …"). */
  outputWhere: string;
  onMessage: (child: ServerChild, message: ChildMessage) => void;
}

let nextRequestId = 1;

export class ServerChild {
  readonly process: ServerProcess;
  phase: ChildPhase = 'starting';
  /** From its hello: the code it runs, which after an upgrade is not the launcher's. */
  version: string | null = null;
  config: ConfigInfo | null = null;
  listen: ListenInfo | null = null;
  since: Date | null = null;
  /** Set once it said `drained`: an exit after that is the end of a drain, not a crash. */
  drained = false;
  lastLoad: ChildLoad | null = null;
  readonly ready: Promise<StartResult>;
  #settle!: (result: StartResult) => void;
  #settled = false;
  readonly #pings = new Map<number, (load: ChildLoad | null) => void>();
  readonly #states = new Map<number, (state: GatewayState | null) => void>();

  constructor(private readonly options: SpawnOptions) {
    this.ready = new Promise((resolve) => (this.#settle = resolve));
    this.process = new ServerProcess(options.launch, options.listenFd, options.env, (message) => this.#onMessage(message), options.credentials);
    void this.process.exited.then((exit) => {
      this.#fail({ code: 'E_SERVER_EXITED', message: `the server exited during startup (${describeExit(exit)}); its output is ${options.outputWhere}` });
      for (const resolve of this.#pings.values()) resolve(null);
      for (const resolve of this.#states.values()) resolve(null);
      this.#pings.clear();
      this.#states.clear();
    });
  }

  get pid(): number | null {
    return this.process.pid;
  }

  get exited(): Promise<ServerExit> {
    return this.process.exited;
  }

  get running(): boolean {
    return this.process.running;
  }

  send(message: LauncherMessage): void {
    this.process.send(message);
  }

  kill(): void {
    this.process.kill();
  }

  /** Fails the start (if it is still going) and kills the child: a deadline, or a stop. */
  abort(error: ErrorReport): void {
    this.#fail(error);
    this.kill();
  }

  info(launcherVersion: string): ServerInfo {
    return {
      pid: this.pid,
      version: this.version ?? launcherVersion,
      phase: this.phase,
      generation: this.config?.generation ?? null,
      hash: this.config?.hash ?? null,
      inFlight: this.lastLoad?.inFlight ?? null,
      streams: this.lastLoad?.streams ?? null,
      since: this.since?.toISOString() ?? null,
    };
  }

  /** Requests and streams in flight, or null when it does not answer within `timeoutMs` (or is gone). */
  ping(timeoutMs: number): Promise<ChildLoad | null> {
    if (!this.running) return Promise.resolve(null);
    const id = nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), timeoutMs);
      const done = (load: ChildLoad | null): void => {
        clearTimeout(timer);
        this.#pings.delete(id);
        if (load !== null) this.lastLoad = load;
        resolve(load);
      };
      this.#pings.set(id, done);
      this.send({ t: 'ping', id });
    });
  }

  /** Its full state for a restart's successor, or null when it does not answer within `timeoutMs`. */
  exportState(timeoutMs: number): Promise<GatewayState | null> {
    if (!this.running) return Promise.resolve(null);
    const id = nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(null), timeoutMs);
      const done = (state: GatewayState | null): void => {
        clearTimeout(timer);
        this.#states.delete(id);
        resolve(state);
      };
      this.#states.set(id, done);
      this.send({ t: 'export-state', id });
    });
  }

  #fail(error: ErrorReport): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#settle({ ok: false, error });
  }

  #onMessage(message: ServerMessage): void {
    switch (message.t) {
      case 'hello':
        this.version = message.version;
        if (message.protocol !== IPC_PROTOCOL) return this.#refuse(`speaks IPC protocol ${message.protocol}`);
        this.send({ t: 'start', ...this.options.start });
        return;
      case 'ready':
        // Code from before the protocol had a hello starts without one.
        if (this.version === null) return this.#refuse('speaks IPC protocol 1 (it said no hello)');
        this.phase = 'serving';
        this.since = new Date();
        this.listen = message.listen;
        this.config = message.config;
        this.#settled = true;
        this.#settle({ ok: true, listen: message.listen, config: message.config });
        return;
      case 'fatal':
        this.#fail(message.error);
        return;
      case 'pong':
        this.#pings.get(message.id)?.({ inFlight: message.inFlight, streams: message.streams });
        return;
      case 'state':
        if (message.id !== null) this.#states.get(message.id)?.(message.state);
        else this.options.onMessage(this, message);
        return;
      case 'drained':
        this.drained = true;
        this.options.onMessage(this, message);
        return;
      case 'reloaded':
      case 'reload-request':
      case 'draining':
        this.options.onMessage(this, message);
        return;
    }
  }

  #refuse(what: string): void {
    this.abort({
      code: 'E_PROTOCOL',
      message: `the server code on disk (version ${this.version ?? 'unknown'}) ${what}, this launcher speaks ${IPC_PROTOCOL}: stop and start ai-proxy to run the new launcher with it`,
    });
  }
}
