/**
 * Reload when the config file changes on disk (DESIGN §6). The directory is watched, not the
 * file: editors and `mv` replace the file, and a watch on the old inode would go silent. Events
 * are debounced and compared by content hash, so a touch or a burst of writes is one reload, or none.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readRegularFile } from '../shared/files.ts';
import { basename, dirname } from 'node:path';

const DEBOUNCE_MS = 150;

export class ConfigWatcher {
  #watcher: FSWatcher | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** The content last acted on, so a broken file saved once is reported once, not on every event. */
  #lastSeen: string | null = null;

  constructor(
    private readonly path: string,
    private readonly currentHash: () => string | null,
    private readonly onChange: () => void,
    /** The gateway's logger of the moment: a reload may change its level and format. */
    private readonly warn: (message: string) => void,
  ) {}

  start(): void {
    const name = basename(this.path);
    try {
      this.#watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
        if (file !== null && file !== name) return;
        if (this.#timer !== null) clearTimeout(this.#timer);
        this.#timer = setTimeout(() => this.#check(), DEBOUNCE_MS);
        this.#timer.unref();
      });
      this.#watcher.on('error', (error) => this.warn(`config watch stopped: ${error.message}`));
    } catch (error) {
      this.warn(`cannot watch ${this.path} for changes (${(error as Error).message}); reload with SIGHUP or ai-proxy reload`);
    }
  }

  #check(): void {
    let hash: string;
    try {
      hash = createHash('sha256').update(readRegularFile(this.path, 'config file')).digest('hex');
    } catch {
      // Mid-replace, or deleted: the reload would only report the missing file; wait for the next event.
      return;
    }
    if (hash === (this.#lastSeen ?? this.currentHash())) return;
    this.#lastSeen = hash;
    this.onChange();
  }

  stop(): void {
    this.#watcher?.close();
    if (this.#timer !== null) clearTimeout(this.#timer);
  }
}
