/** The CLI's end of the control socket: send one request, collect answers until `done` says so. */
import { connect } from 'node:net';
import { AppError } from '../shared/errors.ts';
import type { ControlRequest, ControlResponse } from './control-protocol.ts';

type RequestBody = ControlRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export interface ControlCallOptions {
  timeoutMs: number;
  /** Bound on the first answer, when the launcher acknowledges at once (stop): a stopped or hung launcher is told apart quickly. */
  firstAnswerMs?: number;
  /** Called for each answer; return true when it is the last one expected. */
  done?: (response: ControlResponse) => boolean;
}

/** A launcher's answers are small; a longer line is not one of them. */
const MAX_LINE = 1024 * 1024;

/** The answer on one line, or null when it is not one: another program may hold the socket path, or a launcher may be broken. */
function parseResponse(line: string): ControlResponse | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const fields = value as Record<string, unknown>;
  if (typeof fields.id !== 'number' || typeof fields.type !== 'string') return null;
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  // The fields each command reads: an answer without them would crash it further on.
  switch (fields.type) {
    case 'status':
      return isObject(fields.status) ? (value as ControlResponse) : null;
    case 'reloaded':
      return isObject(fields.verdict) && typeof fields.verdict.ok === 'boolean' && typeof fields.verdict.generation === 'number' ? (value as ControlResponse) : null;
    case 'stopped':
      return typeof fields.forced === 'boolean' ? (value as ControlResponse) : null;
    case 'restarted':
      return isObject(fields.verdict) && typeof fields.verdict.ok === 'boolean' ? (value as ControlResponse) : null;
    case 'error':
      return isObject(fields.error) && typeof fields.error.message === 'string' ? (value as ControlResponse) : null;
    default:
      // stopping, or a type from a newer launcher: the command decides what it expects.
      return value as ControlResponse;
  }
}

/** At most 80 characters of what came, control characters escaped, for the error message. */
function printable(line: string): string {
  const shown = JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);
  return shown;
}

/** Resolves with the last answer; rejects with E_CONTROL when nobody answers on the socket, or answers nonsense. */
export function callControl(path: string, body: RequestBody, options: ControlCallOptions): Promise<ControlResponse> {
  const id = 1;
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let buffered = '';
    let settled = false;
    const finish = (error: Error | null, response?: ControlResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (firstTimer !== null) clearTimeout(firstTimer);
      socket.destroy();
      if (error !== null) reject(error);
      else resolve(response as ControlResponse);
    };
    const noAnswer = (ms: number) => () => finish(new AppError('E_CONTROL', `no answer on the control socket ${path} within ${Math.round(ms / 100) / 10}s`));
    const timer = setTimeout(noAnswer(options.timeoutMs), options.timeoutMs);
    let firstTimer = options.firstAnswerMs === undefined ? null : setTimeout(noAnswer(options.firstAnswerMs), options.firstAnswerMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify({ ...body, id }) + '\n'));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      finish(new AppError('E_CONTROL', `cannot reach the control socket ${path}: ${error.code ?? error.message}`, { cause: error })),
    );
    socket.on('close', () => finish(new AppError('E_CONTROL', `the control socket ${path} closed before answering`)));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_LINE) return finish(new AppError('E_CONTROL', `the control socket ${path} sent more than ${MAX_LINE} bytes without a line end; it is not an ai-proxy launcher`));
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const response = parseResponse(line);
        if (response === null) return finish(new AppError('E_CONTROL', `the control socket ${path} answered something that is not a control response: ${printable(line)}`));
        if (firstTimer !== null) {
          clearTimeout(firstTimer);
          firstTimer = null;
        }
        if (response.id !== id && response.type !== 'error') continue;
        if (options.done === undefined || options.done(response)) return finish(null, response);
      }
    });
  });
}
