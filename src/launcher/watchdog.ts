/**
 * systemd's watchdog (DESIGN §5): WATCHDOG=1 goes out only when the serving child answered a
 * heartbeat, so a server whose event loop hangs stops the pings and systemd restarts the unit.
 * A launcher that merely runs is not proof of a gateway that serves. After a restart the
 * watchdog follows the new child (the supervisor makes a new one for it).
 */
export class Watchdog {
  readonly #timer: NodeJS.Timeout;
  #stopped = false;

  /** `ping` resolves with null when the child did not answer within the interval. */
  constructor(intervalMs: number, ping: (timeoutMs: number) => Promise<unknown>, alive: () => void) {
    const beat = (): void => {
      void ping(intervalMs).then((answer) => {
        if (answer !== null && !this.#stopped) alive();
      });
    };
    this.#timer = setInterval(beat, intervalMs);
    this.#timer.unref();
    beat();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }
}
