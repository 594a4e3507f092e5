/**
 * Streaming clients for the SSE scenarios: time to first byte, a flood of small events, paced
 * stamped events (per-event delay and batching) and many held-open streams. They run in the
 * bench process, on the load core; the fake upstream shapes each stream from request headers.
 */
import { Agent, request, type IncomingMessage, type ClientRequest } from 'node:http';
import { CLIENT_KEY } from './procs.ts';

const STREAM_BODY = Buffer.from('{"model":"bench-model","stream":true,"messages":[{"role":"user","content":"Count to ten."}]}');

function streamRequest(url: string, headers: Record<string, string>, agent: Agent | false, onResponse: (res: IncomingMessage) => void, onError: (error: Error) => void): ClientRequest {
  const req = request(
    url,
    {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': String(STREAM_BODY.length), authorization: `Bearer ${CLIENT_KEY}`, ...headers },
    },
    onResponse,
  );
  req.once('error', onError);
  req.end(STREAM_BODY);
  return req;
}

/** Sequential streams of one event: ms from sending the request to the first body byte. */
export async function timeToFirstByte(url: string, count: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const samples: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      samples.push(
        await new Promise<number>((resolve, reject) => {
          const sent = process.hrtime.bigint();
          let first = 0;
          streamRequest(
            url,
            { 'x-bench-events': '1' },
            agent,
            (res) => {
              if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
              res.on('data', () => {
                if (first === 0) first = Number(process.hrtime.bigint() - sent) / 1e6;
              });
              res.on('end', () => resolve(first));
            },
            reject,
          );
        }),
      );
    }
  } finally {
    agent.destroy();
  }
  return samples;
}

function countEvents(chunk: Buffer, last: number): { events: number; last: number } {
  let events = 0;
  let previous = last;
  for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) {
    const before = i === 0 ? previous : chunk[i - 1];
    if (before === 0x0a) events++;
    previous = 0x0a;
  }
  return { events, last: chunk.length > 0 ? (chunk[chunk.length - 1] as number) : last };
}

export interface FloodResult {
  events: number;
  reads: number;
  bytes: number;
  seconds: number;
}

/** One stream of `events` small events written as fast as the path takes them. */
export function flood(url: string, events: number): Promise<FloodResult> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    streamRequest(
      url,
      { 'x-bench-events': String(events) },
      false,
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
        let count = 0;
        let reads = 0;
        let bytes = 0;
        let last = 0;
        res.on('data', (chunk: Buffer) => {
          reads++;
          bytes += chunk.length;
          const counted = countEvents(chunk, last);
          count += counted.events;
          last = counted.last;
        });
        res.on('end', () => resolve({ events: count, reads, bytes, seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
      },
      reject,
    );
  });
}

export interface PacedResult {
  /** Upstream write → client read, ms, one per event. */
  delays: number[];
  events: number;
  reads: number;
  /** Reads that carried more than one event: batching. */
  batchedReads: number;
}

/**
 * One stream of stamped events `intervalMs` apart. The upstream stamps each event with
 * process.hrtime (CLOCK_MONOTONIC, the same clock in every process), so each delay is exact.
 */
export function paced(url: string, events: number, intervalMs: number): Promise<PacedResult> {
  return new Promise((resolve, reject) => {
    streamRequest(
      url,
      { 'x-bench-events': String(events), 'x-bench-interval': String(intervalMs), 'x-bench-stamp': '1' },
      false,
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
        const delays: number[] = [];
        let reads = 0;
        let batchedReads = 0;
        res.on('data', (chunk: Buffer) => {
          const now = process.hrtime.bigint();
          reads++;
          const text = chunk.toString('latin1');
          let inRead = 0;
          for (const match of text.matchAll(/ t=(\d+)"/g)) {
            delays.push(Number(now - BigInt(match[1] as string)) / 1e6);
            inRead++;
          }
          if (inRead > 1) batchedReads++;
        });
        res.on('end', () => resolve({ delays, events: delays.length, reads, batchedReads }));
      },
      reject,
    );
  });
}

export interface HeldStreams {
  open: number;
  failed: number;
  firstError: string | null;
  seconds: number;
  close: () => Promise<void>;
}

/** Opens `count` streams that stay open after their first event, `parallel` at a time. */
export async function holdStreams(url: string, count: number, parallel: number, holdHeaders: Record<string, string> = { 'x-bench-events': '1000000', 'x-bench-hold': '1' }): Promise<HeldStreams> {
  const requests: ClientRequest[] = [];
  const responses: IncomingMessage[] = [];
  let failed = 0;
  let firstError: string | null = null;
  const started = Date.now();
  const openOne = (): Promise<void> =>
    new Promise((resolve) => {
      const req = streamRequest(
        url,
        holdHeaders,
        false,
        (res) => {
          if (res.statusCode !== 200) {
            failed++;
            firstError ??= `status ${res.statusCode}`;
            res.resume();
            return resolve();
          }
          responses.push(res);
          res.once('data', () => resolve());
          res.on('data', () => undefined);
          res.once('error', () => undefined);
        },
        (error) => {
          failed++;
          firstError ??= error.message;
          resolve();
        },
      );
      requests.push(req);
    });
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        next++;
        await openOne();
      }
    }),
  );
  const seconds = (Date.now() - started) / 1000;
  return {
    open: responses.length,
    failed,
    firstError,
    seconds,
    close: async () => {
      const closed = responses.map((res) => new Promise<void>((resolve) => (res.destroyed ? resolve() : res.once('close', () => resolve()))));
      for (const req of requests) req.destroy();
      await Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    },
  };
}

/** Streams of `events` events `intervalMs` apart; resolves with how many ended with [DONE]. */
export function completeStreams(url: string, count: number, events: number, intervalMs: number): { opened: Promise<void>; done: Promise<{ complete: number; broken: number }> } {
  let openedCount = 0;
  let resolveOpened: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (resolveOpened = resolve));
  const one = (): Promise<boolean> =>
    new Promise((resolve) => {
      streamRequest(
        url,
        { 'x-bench-events': String(events), 'x-bench-interval': String(intervalMs) },
        false,
        (res) => {
          let tail = '';
          res.once('data', () => {
            if (++openedCount === count) resolveOpened();
          });
          res.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString('utf8')).slice(-64)));
          res.on('end', () => resolve(res.statusCode === 200 && tail.endsWith('data: [DONE]\n\n')));
          res.once('error', () => resolve(false));
        },
        () => {
          if (++openedCount === count) resolveOpened();
          resolve(false);
        },
      );
    });
  const done = Promise.all(Array.from({ length: count }, one)).then((results) => ({ complete: results.filter(Boolean).length, broken: results.filter((r) => !r).length }));
  return { opened, done };
}
