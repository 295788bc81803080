// One task at a time, never queued twice: a request while the task runs asks
// for exactly one more run after it (whatever the number of requests), so the
// last request always sees a run that started after it. The job runner, the
// SSH forwarder and the key sync each follow the database this way.
export class Coalesced {
  private running: Promise<void> | null = null;
  private again = false;

  /** `task` must not throw: it handles (and logs) its own errors. */
  constructor(private readonly task: () => Promise<void>) {}

  /** Starts a run, or marks one more after the run in progress; resolves when no run is left. */
  request(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.task();
      } while (this.again);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Whether a run is in progress. */
  get busy(): boolean {
    return this.running !== null;
  }

  /** Resolves once the run in progress, and any asked for meanwhile, are done. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }
}
