/**
 * What the shared-state tests share: several real ai-proxy daemons (`run -d`, real CLI) on one
 * real Redis, each with its own directory, PID file and log; stop and start again by the CLI;
 * their metrics and /admin; and a load loop that records every request's status and latency.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { get, instance, post, runCli, SLACK_MS, startDaemon, waitUntil, type CommandResult, type Instance } from '../helpers/cli.ts';
import { metricValue } from './gateway-harness.ts';

export const ADMIN_KEY = 'admin-key-fleet-5e4d3c2b1a';

export interface Member {
  name: string;
  inst: Instance;
  url: string;
  start(): Promise<void>;
  stop(): Promise<CommandResult>;
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  admin(path: string): Promise<unknown>;
  log(): string;
}

/** Starts `count` daemons, member i on `yaml(i)` with `env` added to its environment; every one is stopped (or killed) when the test ends. */
export async function startFleet(t: TestContext, yaml: (i: number) => string, count = 3, env: NodeJS.ProcessEnv = {}): Promise<Member[]> {
  const members: Member[] = [];
  for (let i = 0; i < count; i++) {
    const inst = instance(t, yaml(i), env);
    let url = '';
    let running = false;
    const member: Member = {
      name: String.fromCharCode(65 + i),
      inst,
      get url() {
        return url;
      },
      async start() {
        url = (await startDaemon(inst)).url;
        running = true;
      },
      async stop() {
        running = false;
        return runCli(['stop', '--pid-file', inst.pidFile], { env: inst.env });
      },
      async metric(name, labels = {}) {
        const response = await get(`${url}/metrics`);
        return metricValue(await response.text(), name, labels);
      },
      async admin(path) {
        const response = await get(`${url}${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
        return response.json();
      },
      log: () => (existsSync(inst.logFile) ? readFileSync(inst.logFile, 'utf8') : ''),
    };
    t.after(async () => {
      if (running) await member.stop();
    });
    members.push(member);
  }
  // One at a time: three Node starts at once on a loaded 2-core machine gain little.
  for (const m of members) await m.start();
  return members;
}

/** Waits until every member's `ai_proxy_shared_state_up` is `value`. */
export async function waitShared(members: readonly Member[], value: 0 | 1, timeoutMs = 6 * SLACK_MS): Promise<void> {
  for (const m of members) await waitUntil(`instance ${m.name} reports shared state ${value === 1 ? 'up' : 'away'}`, async () => (await m.metric('ai_proxy_shared_state_up')) === value, timeoutMs);
}

/** The state of the upstream key named `label` in a member's /admin/credentials. */
export async function credentialState(m: Member, label: string): Promise<string | undefined> {
  const body = (await m.admin('/admin/credentials')) as { credentials: Array<{ credential: string; state: string }> };
  return body.credentials.find((c) => c.credential === label)?.state;
}

export interface Sample {
  member: string;
  status: number;
  ms: number;
  /** When it was sent, ms since the epoch. */
  at: number;
  error?: string;
}

/**
 * `workers` loops sending a chat completion each, in turn to each target, until `stop()`.
 * Every request has a bound (a hung gateway fails it, it does not hang the test).
 */
export function loadLoop(targets: ReadonlyArray<{ name: string; url: () => string }>, body: unknown, headers: Record<string, string>, workers = 6): { samples: Sample[]; stop: () => Promise<void> } {
  const samples: Sample[] = [];
  let running = true;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (running) {
      const target = targets[next++ % targets.length] as (typeof targets)[number];
      const at = Date.now();
      try {
        const response = await post(`${target.url()}/v1/chat/completions`, body, headers, 3 * SLACK_MS);
        await response.arrayBuffer();
        samples.push({ member: target.name, status: response.status, ms: Date.now() - at, at });
      } catch (error) {
        samples.push({ member: target.name, status: 0, ms: Date.now() - at, at, error: (error as Error).message });
      }
    }
  };
  const loops = Array.from({ length: workers }, () => worker());
  return {
    samples,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Waits until `samples` has grown by `count` since now (the load has exercised a new state). */
export function moreSamples(samples: readonly Sample[], count: number, what: string): Promise<void> {
  const from = samples.length;
  return waitUntil(`${count} more requests (${what})`, () => samples.length >= from + count, 6 * SLACK_MS).then(() => undefined);
}
