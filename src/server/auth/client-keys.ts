/**
 * Client authentication against `client-keys`.
 *
 * Constant time: the presented key is hashed with SHA-256 once, and its digest is compared with
 * `crypto.timingSafeEqual` against every entry's digest, without stopping at a match, so the
 * time taken says nothing about which entry matched or how much of a key was right. (A Map keyed
 * by the digest would be safe too, since learning a digest's bytes does not help find a key, and
 * would win past a hundred entries; at the handful of keys a gateway has, the scan adds 20-40 ns
 * per entry to the ~0.7 µs of the hash and needs no argument.) Only digests are kept, never the keys.
 */
import crypto from 'node:crypto';
import type { ClientKeyConfig } from '../../shared/config/schema.ts';
import { compileGlobs, type ModelMatcher } from '../routing/glob.ts';

export interface Client {
  /** For logs, metrics and rate limits; never the key. */
  readonly name: string;
  /** No client keys are configured: every request is this client. */
  readonly anonymous: boolean;
  /** Epoch ms from which the key is refused; null: never. */
  readonly expiresAt: number | null;
  readonly rpm: number | null;
  readonly tpm: number | null;
  /** The allowed model globs as configured; null: all models. */
  readonly models: readonly string[] | null;
  readonly modelMatcher: ModelMatcher | null;
}

export type AuthResult = { readonly ok: true; readonly client: Client } | { readonly ok: false; readonly reason: 'missing' | 'invalid' | 'expired' };

interface Entry {
  readonly digest: Buffer;
  readonly client: Client;
  readonly ok: AuthResult;
}

export const ANONYMOUS: Client = Object.freeze({ name: 'anonymous', anonymous: true, expiresAt: null, rpm: null, tpm: null, models: null, modelMatcher: null });

const ANONYMOUS_OK: AuthResult = Object.freeze({ ok: true, client: ANONYMOUS });
const MISSING: AuthResult = Object.freeze({ ok: false, reason: 'missing' });
const INVALID: AuthResult = Object.freeze({ ok: false, reason: 'invalid' });
const EXPIRED: AuthResult = Object.freeze({ ok: false, reason: 'expired' });
const DAY_MS = 86_400_000;

/** `crypto.hash` (Node ≥ 20.12) skips the Hash object: about half the cost of createHash for a key. */
export function sha256(text: string): Buffer {
  return crypto.hash('sha256', text, 'buffer');
}

/** `expires` → epoch ms. A bare date means the key works through that whole day (UTC). */
export function parseExpiry(expires: string): number {
  const at = Date.parse(expires);
  return /^\d{4}-\d{2}-\d{2}$/.test(expires) ? at + DAY_MS : at;
}

export class ClientKeys {
  readonly #entries: readonly Entry[];
  readonly #now: () => number;

  constructor(clientKeys: readonly ClientKeyConfig[], options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#entries = clientKeys.map((c) => {
      const digest = c.sha256 !== undefined ? Buffer.from(c.sha256, 'hex') : sha256(c.key as string);
      const client: Client = Object.freeze({
        name: c.name,
        anonymous: false,
        expiresAt: c.expires === undefined ? null : parseExpiry(c.expires),
        rpm: c.rpm ?? null,
        tpm: c.tpm ?? null,
        models: c.models === undefined ? null : Object.freeze([...c.models]),
        modelMatcher: c.models === undefined ? null : compileGlobs(c.models),
      });
      return { digest, client, ok: Object.freeze({ ok: true as const, client }) };
    });
  }

  /** False when no client keys are configured and every request is anonymous. */
  get enabled(): boolean {
    return this.#entries.length > 0;
  }

  clients(): readonly Client[] {
    return this.#entries.map((e) => e.client);
  }

  authenticate(presented: string | null): AuthResult {
    if (this.#entries.length === 0) return ANONYMOUS_OK;
    if (presented === null || presented === '') return MISSING;
    const digest = sha256(presented);
    let match: Entry | undefined;
    for (const e of this.#entries) {
      // No early exit: every entry costs one full comparison.
      if (crypto.timingSafeEqual(e.digest, digest) && match === undefined) match = e;
    }
    if (match === undefined) return INVALID;
    const expiresAt = match.client.expiresAt;
    return expiresAt !== null && this.#now() >= expiresAt ? EXPIRED : match.ok;
  }
}

/** May `client` use `model`? Check the id the client sent; the caller may also check the alias-resolved id. */
export function allowsModel(client: Client, model: string): boolean {
  return client.modelMatcher === null || client.modelMatcher(model);
}
