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

/** Resolves with the last answer; rejects with E_CONTROL when nobody answers on the socket. */
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
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const response = JSON.parse(buffered.slice(0, newline)) as ControlResponse;
        buffered = buffered.slice(newline + 1);
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
