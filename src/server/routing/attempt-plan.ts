/**
 * The sequence of upstream attempts for one request: credentials of a provider, then the next
 * candidate provider, then the fallback models, bounded by `retry.attempts` and
 * `retry.total-timeout`. The caller's loop stays trivial:
 *
 *   const plan = createAttemptPlan({ resolution, table, pool, policy });
 *   let step = plan.next();
 *   while (!step.done) {
 *     if (step.delayMs > 0) await sleep(step.delayMs);
 *     const outcome = await send(step);                          // one UpstreamOutcome
 *     step = plan.next(outcome, { firstByteSent });
 *   }
 *   // step.reason says what to answer; see `Done`.
 *
 * The plan reports every outcome to the credential pool, so cooldowns need no separate call.
 */
import type { Credential, CredentialPool } from './credentials.ts';
import type { Candidate, Resolution, ResolvedModel } from './model-table.ts';
import { classify, type UpstreamOutcome } from './outcome.ts';
import { backoffDelay, type RetryPolicy } from './retry.ts';

export interface Attempt {
  readonly done: false;
  /** 1 for the first attempt. */
  readonly number: number;
  /** The client-facing model id this attempt serves: the requested one, or a fallback. */
  readonly model: string;
  readonly fallback: boolean;
  readonly candidate: Candidate;
  readonly credential: Credential;
  /** Wait this long before sending (backoff); 0 for the first attempt. */
  readonly delayMs: number;
}

/**
 * - `success`: the last attempt's response went (or goes) to the client.
 * - `rejected`: the upstream refused the request itself (400, 404, 422, …): relay its answer.
 * - `failed-after-first-byte`: a streamed response broke after the client got data: end the
 *   stream with an error event; a retry would duplicate output.
 * - `exhausted`: every option failed or the attempt budget is spent: relay the last upstream
 *   answer when it was HTTP, else answer `status`/`message`.
 * - `deadline`: `retry.total-timeout` left no time for another attempt (same answer as exhausted).
 * - `unavailable`: nothing could be tried, every credential is cooling down: answer `status`
 *   (503) with `retryAfterSeconds`.
 */
export interface Done {
  readonly done: true;
  readonly reason: 'success' | 'rejected' | 'failed-after-first-byte' | 'exhausted' | 'deadline' | 'unavailable';
  readonly attempts: number;
  /** The last attempt's outcome; null when none was made. */
  readonly outcome: UpstreamOutcome | null;
  /** For an answer the gateway writes itself: the upstream status for an HTTP outcome, 502 network, 504 timeout, 503 unavailable. */
  readonly status: number;
  readonly message: string;
  /** When the first cooling credential among the candidates recovers, if any. */
  readonly retryAfterSeconds?: number;
}

export interface Progress {
  /** Bytes of this attempt's response already reached the client (streaming). */
  readonly firstByteSent: boolean;
}

export interface AttemptPlan {
  /** The first attempt (no argument), or what follows the outcome of the previous one. */
  next(previous?: UpstreamOutcome, progress?: Progress): Attempt | Done;
}

export interface AttemptPlanInput {
  readonly resolution: ResolvedModel;
  /** Resolves fallback ids, lazily: most requests never need them. */
  readonly table: { resolve(modelId: string): Resolution; fallbacks(modelId: string): readonly string[] };
  /** Fallback ids to use instead of `table.fallbacks(resolution.requested)` (e.g. filtered by the client's allowed models). */
  readonly fallbacks?: readonly string[];
  readonly pool: CredentialPool;
  readonly policy: RetryPolicy;
}

export function createAttemptPlan(input: AttemptPlanInput): AttemptPlan {
  return new Plan(input);
}

class Plan implements AttemptPlan {
  readonly #input: AttemptPlanInput;
  readonly #deadline: number;
  /** Credentials refused in this request (429, 401/403): never asked again for it. Allocated on the first refusal. */
  #exclude: Set<string> | undefined;
  #fallbackIds: readonly string[] | null = null;
  #models: ResolvedModel[];
  #modelIndex = 0;
  #candidateIndex = 0;
  #issued = 0;
  #last: Attempt | null = null;
  #lastOutcome: UpstreamOutcome | null = null;
  /** The last attempt that failed on the provider's side: retried when nothing else is left. */
  #lastTransient: Attempt | null = null;
  /** The outstanding attempt came from the current position (not a last-resort repeat). */
  #lastAtPosition = false;
  #retryAt: number | null = null;
  #finished: Done | null = null;

  constructor(input: AttemptPlanInput) {
    this.#input = input;
    this.#models = [input.resolution];
    this.#deadline = input.policy.totalTimeoutMs > 0 ? input.policy.now() + input.policy.totalTimeoutMs : Infinity;
  }

  next(previous?: UpstreamOutcome, progress?: Progress): Attempt | Done {
    if (this.#finished !== null) return this.#finished;
    const last = this.#last;
    if (last !== null) {
      if (previous === undefined) throw new TypeError('AttemptPlan.next() needs the outcome of the previous attempt');
      this.#last = null;
      this.#lastOutcome = previous;
      this.#input.pool.report(last.credential, previous);
      const verdict = classify(previous);
      if (verdict === 'success') return this.#done('success');
      if (progress?.firstByteSent === true) return this.#done('failed-after-first-byte');
      if (verdict === 'fatal') return this.#done('rejected');
      if (verdict === 'retry-credential') {
        (this.#exclude ??= new Set()).add(last.credential.id);
      } else {
        this.#lastTransient = last;
        if (this.#lastAtPosition) this.#candidateIndex++;
      }
    }
    if (this.#issued >= this.#input.policy.attempts) return this.#done('exhausted');
    let found = this.#find();
    this.#lastAtPosition = found !== null;
    if (found === null) {
      const retry = this.#lastTransient;
      // The provider failed transiently and nothing else is left: retry it (past the cooldown
      // the failure itself started), as an SDK would, rather than give up with attempts to spare.
      if (retry === null || this.#exclude?.has(retry.credential.id) === true) return this.#done(this.#issued === 0 ? 'unavailable' : 'exhausted');
      found = retry;
    }
    const delayMs = this.#issued === 0 ? 0 : backoffDelay(this.#issued - 1, this.#input.policy);
    if (this.#input.policy.now() + delayMs >= this.#deadline) return this.#done('deadline');
    this.#issued++;
    const attempt: Attempt = { done: false, number: this.#issued, model: found.model, fallback: found.fallback, candidate: found.candidate, credential: found.credential, delayMs };
    this.#last = attempt;
    return attempt;
  }

  /** The first candidate, from the current position on, with a credential to use. */
  #find(): Omit<Attempt, 'done' | 'number' | 'delayMs'> | null {
    for (;;) {
      const model = this.#models[this.#modelIndex] ?? this.#nextFallback();
      if (model === undefined) return null;
      const candidate = model.candidates[this.#candidateIndex];
      if (candidate === undefined) {
        this.#modelIndex++;
        this.#candidateIndex = 0;
        continue;
      }
      const pick = this.#input.pool.pick(candidate.provider.name, this.#exclude);
      if (pick.credential !== null) return { model: model.requested, fallback: this.#modelIndex > 0, candidate, credential: pick.credential };
      if (pick.retryAt !== null && (this.#retryAt === null || pick.retryAt < this.#retryAt)) this.#retryAt = pick.retryAt;
      this.#candidateIndex++;
    }
  }

  /** Resolves the next fallback id onto `#models` (which holds the primary, then one entry per fallback id); undefined when none is left. */
  #nextFallback(): ResolvedModel | undefined {
    const { table, resolution } = this.#input;
    this.#fallbackIds ??= this.#input.fallbacks ?? table.fallbacks(resolution.requested);
    const id = this.#fallbackIds[this.#models.length - 1];
    if (id === undefined) return undefined;
    const r = table.resolve(id);
    this.#models.push(r.ok ? r : unresolved(id));
    return this.#models[this.#modelIndex];
  }

  #done(reason: Done['reason']): Done {
    const outcome = this.#lastOutcome;
    let status: number;
    let message: string;
    const model = this.#input.resolution.requested;
    if (reason === 'unavailable') {
      status = 503;
      message = `Every upstream credential for the model '${model}' is cooling down after errors; retry later.`;
    } else if (outcome === null || outcome.kind === 'success') {
      status = reason === 'deadline' ? 504 : 200;
      message = reason === 'deadline' ? `No upstream answered for the model '${model}' within the retry time limit.` : 'OK';
    } else if (outcome.kind === 'http') {
      status = outcome.status;
      message = `The upstream provider answered ${outcome.status} for the model '${model}'.`;
    } else if (outcome.kind === 'timeout') {
      status = 504;
      message = `The upstream provider did not answer in time for the model '${model}'.`;
    } else {
      status = 502;
      message = `The upstream provider could not be reached for the model '${model}'.`;
    }
    const done: { -readonly [K in keyof Done]: Done[K] } = { done: true, reason, attempts: this.#issued, outcome, status, message };
    if (reason !== 'success' && reason !== 'rejected' && this.#retryAt !== null) {
      done.retryAfterSeconds = Math.max(1, Math.ceil((this.#retryAt - this.#input.policy.now()) / 1000));
    }
    this.#finished = done;
    return done;
  }
}

/** A fallback id that resolves to nothing: kept as a placeholder so ids are consumed in order. */
function unresolved(id: string): ResolvedModel {
  return { ok: true, requested: id, model: id, candidates: [] };
}
