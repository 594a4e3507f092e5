/**
 * The `/admin` key check. Both sides are hashed first so that `timingSafeEqual` compares equal
 * lengths and the key's length leaks no more than its content.
 */
import crypto from 'node:crypto';
import { sha256 } from './client-keys.ts';

export type AdminAuthResult = 'ok' | 'missing' | 'invalid' | 'not-configured';

export class AdminKey {
  readonly #digest: Buffer | null;

  constructor(key: string | undefined) {
    this.#digest = key === undefined ? null : sha256(key);
  }

  /** False without `admin.key`: then /admin refuses every request. */
  get configured(): boolean {
    return this.#digest !== null;
  }

  check(presented: string | null): AdminAuthResult {
    if (this.#digest === null) return 'not-configured';
    if (presented === null || presented === '') return 'missing';
    return crypto.timingSafeEqual(this.#digest, sha256(presented)) ? 'ok' : 'invalid';
  }
}
