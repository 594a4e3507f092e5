/**
 * The CLI's end of POST /admin/capture (`ai-proxy debug capture`): find the running instance's
 * listener and admin key, arm the capture, write each record it streams back to the output file
 * (JSON lines, mode 0600: the records hold prompts), and report what was captured.
 *
 * The listener comes from the instance itself (its control socket's status), the admin key from
 * the config file it runs (or `-c`), read as `status` reads the PID file: that one key only.
 */
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { request } from 'node:http';
import { AppError } from '../shared/errors.ts';
import { adminKeyInFile } from '../shared/config/admin-key-setting.ts';
import type { ListenInfo } from '../shared/ipc.ts';
import { callControl } from './control-client.ts';

export interface CaptureOptions {
  socket: string;
  /** `-c`: the config whose admin.key to use instead of the one the instance runs. */
  configFlag: string | undefined;
  output: string;
  model: string | null;
  client: string | null;
  count: number;
  maxWaitMs: number;
  env: NodeJS.ProcessEnv;
  /** The gateway took the capture: requests from now on are recorded. */
  onArmed(url: string): void;
}

/** One line per captured exchange, for the summary. */
export interface CapturedExchange {
  id: string;
  client: string | null;
  method: string;
  path: string;
  model: string;
  status: number | null;
  upstream: Array<{ provider: string; url: string; status: number | null }>;
}

export interface CaptureResult {
  reason: 'count' | 'timeout' | 'closed' | 'shutdown';
  requested: number;
  exchanges: CapturedExchange[];
  output: string;
  url: string;
}

/** Past the capture's own deadline, the gateway gets this long to say it ended. */
const ANSWER_SLACK_MS = 10_000;
const MAX_LINE = 64 * 1024 * 1024;

/** Where to reach the listener from this machine: a wildcard address is reached on loopback. */
export function adminBaseUrl(listen: ListenInfo): string {
  const host = listen.host === '0.0.0.0' || listen.host === '' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${listen.port}`;
}

export async function runCapture(options: CaptureOptions): Promise<CaptureResult> {
  const answer = await callControl(options.socket, { cmd: 'status' }, { timeoutMs: 3_000 });
  if (answer.type !== 'status') throw new AppError('E_CONTROL', `the launcher answered a status request with "${answer.type}"`);
  const { listen, config } = answer.status;
  if (listen === null) throw new AppError('E_ADMIN', 'the gateway is not serving yet; try again once `ai-proxy status` says ready');
  const configPath = options.configFlag ?? config?.path ?? null;
  if (configPath === null) throw new AppError('E_ADMIN', 'the admin API is off: the gateway runs on the embedded default config, which has no admin.key');
  const key = await adminKeyInFile(configPath, options.env);
  const url = `${adminBaseUrl(listen)}/admin/capture`;

  let fd: number;
  try {
    // 'wx': never follow a planted symlink or overwrite an earlier capture.
    fd = openSync(options.output, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new AppError('E_CAPTURE_OUTPUT', code === 'EEXIST' ? `${options.output} exists; choose another --output or remove it` : `cannot create ${options.output}: ${code ?? (error as Error).message}`);
  }
  let exchanges: CapturedExchange[] = [];
  try {
    const result = await stream(url, key, options, (line) => writeSync(fd, `${line}\n`));
    exchanges = result.exchanges;
    return { reason: result.reason, requested: options.count, exchanges, output: options.output, url };
  } finally {
    closeSync(fd);
    // An empty file left by a capture that never armed would only mislead.
    if (exchanges.length === 0) {
      try {
        unlinkSync(options.output);
      } catch {
        // already gone
      }
    }
  }
}

function stream(url: string, key: string, options: CaptureOptions, write: (line: string) => void): Promise<{ reason: CaptureResult['reason']; exchanges: CapturedExchange[] }> {
  const payload = JSON.stringify({ model: options.model, client: options.client, count: options.count, maxWaitMs: options.maxWaitMs });
  const exchanges: CapturedExchange[] = [];
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | null, reason?: CaptureResult['reason']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      if (error !== null) reject(error);
      else resolve({ reason: reason as CaptureResult['reason'], exchanges });
    };
    const deadline = options.maxWaitMs + ANSWER_SLACK_MS;
    const timer = setTimeout(() => finish(new AppError('E_CAPTURE_TIMEOUT', `the gateway at ${url} did not end the capture within ${Math.round(deadline / 1000)}s; ${exchanges.length} of ${options.count} requests were captured into ${options.output}`)), deadline);
    const req = request(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }, agent: false }, (res) => {
      res.setEncoding('utf8');
      let buffered = '';
      if (res.statusCode !== 200) {
        res.on('data', (chunk: string) => {
          if (buffered.length < 64 * 1024) buffered += chunk;
        });
        res.on('end', () => finish(new AppError('E_ADMIN', refusal(res.statusCode ?? 0, buffered, url))));
        return;
      }
      res.on('data', (chunk: string) => {
        buffered += chunk;
        if (buffered.length > MAX_LINE) return finish(new AppError('E_ADMIN', `the gateway at ${url} sent a line longer than ${MAX_LINE} bytes`));
        let newline = buffered.indexOf('\n');
        while (newline !== -1 && !settled) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          handleLine(line);
          newline = buffered.indexOf('\n');
        }
      });
      res.on('end', () => finish(new AppError('E_CAPTURE_ENDED', `the gateway closed the capture before it ended; ${exchanges.length} of ${options.count} requests were captured`)));
      res.on('error', (error) => finish(new AppError('E_CAPTURE_ENDED', `the capture's connection failed: ${error.message}`)));
    });
    req.on('error', (error) => finish(new AppError('E_ADMIN', `cannot reach the gateway's admin API at ${url}: ${error.message}`)));
    req.end(payload);

    function handleLine(line: string): void {
      if (line.trim() === '') return;
      let value: Record<string, unknown>;
      try {
        value = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return finish(new AppError('E_ADMIN', `the gateway at ${url} sent a line that is not JSON`));
      }
      switch (value.type) {
        case 'armed':
          options.onArmed(url);
          return;
        case 'exchange':
          write(line);
          exchanges.push(summarize(value));
          return;
        case 'end': {
          const reason = value.reason;
          return finish(null, reason === 'count' || reason === 'timeout' || reason === 'closed' || reason === 'shutdown' ? reason : 'closed');
        }
        default:
          // a record type from a newer gateway: kept in the file
          write(line);
      }
    }
  });
}

function refusal(status: number, body: string, url: string): string {
  let message = '';
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') message = parsed.error.message;
  } catch {
    // not the gateway's JSON
  }
  if (status === 401) return `the gateway refused the admin key (HTTP 401${message === '' ? '' : `: ${message}`}); the key in the config file must be the one the gateway runs with (reload it after a change)`;
  if (status === 404) return `the gateway at ${url} has no capture endpoint (HTTP 404${message === '' ? '' : `: ${message}`}); is admin.key set in the config it runs, and is it this version?`;
  return `the gateway refused the capture (HTTP ${status}${message === '' ? '' : `: ${message}`})`;
}

function summarize(record: Record<string, unknown>): CapturedExchange {
  const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
  const client = obj(record.client);
  const answer = obj(record.answer);
  const upstream = Array.isArray(record.upstream) ? record.upstream.map(obj) : [];
  return {
    id: String(record.id ?? ''),
    client: typeof client.name === 'string' ? client.name : null,
    method: String(client.method ?? ''),
    path: String(client.path ?? ''),
    model: String(record.model ?? ''),
    status: typeof answer.status === 'number' ? answer.status : null,
    upstream: upstream.map((u) => ({ provider: String(u.provider ?? ''), url: String(u.url ?? ''), status: typeof obj(u.answer).status === 'number' ? (obj(u.answer).status as number) : null })),
  };
}
