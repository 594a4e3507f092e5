/**
 * systemd's watchdog (DESIGN §5): WATCHDOG=1 goes out only when the server answered the previous
 * heartbeat, so a server whose event loop hangs stops the pings and systemd restarts the unit.
 * A launcher that merely runs is not proof of a gateway that serves.
 */
export class Watchdog {
  readonly #timer: NodeJS.Timeout;
  #sent = 0;
  #answered = 0;

  constructor(intervalMs: number, ping: (id: number) => void, private readonly alive: () => void) {
    this.#timer = setInterval(() => {
      this.#sent++;
      ping(this.#sent);
    }, intervalMs);
    this.#timer.unref();
    this.#sent++;
    ping(this.#sent);
  }

  pong(id: number): void {
    if (id <= this.#answered) return;
    this.#answered = id;
    this.alive();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
