/**
 * "The gateway is cutting everything in flight": one per request, raised by a forced stop. An
 * AbortController would do, but it is an EventTarget and every request makes one; this is the
 * least that does the job (a flag and the few listeners a request registers).
 */
export class ShutdownSignal {
  aborted = false;
  #listeners: Array<() => void> | null = null;

  on(listener: () => void): void {
    if (this.aborted) return;
    (this.#listeners ??= []).push(listener);
  }

  off(listener: () => void): void {
    const listeners = this.#listeners;
    if (listeners === null) return;
    const index = listeners.indexOf(listener);
    if (index !== -1) listeners.splice(index, 1);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listeners = this.#listeners;
    this.#listeners = null;
    if (listeners !== null) for (const listener of listeners) listener();
  }
}
