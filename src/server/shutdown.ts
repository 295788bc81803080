// The shutdown drain. On SIGTERM or SIGINT the background services stop, and
// the VM job runner lets running operations finish for up to
// SHUTDOWN_GRACE_S before it stops them and records them interrupted
// (vms/services.ts); only then does the process exit.
//
// `next start` has its own handlers for both signals: they close the HTTP
// server and call process.exit at once, which would cut the drain short and
// leave jobs RUNNING. Next registers them before it loads the instrumentation
// hook that starts us, so here they are taken off the signals and called after
// the drain: the app keeps serving (pages show the jobs finishing) until the
// drain ends, then Next closes the server and exits as it always does.
// A second signal during the drain exits at once: the jobs' leases then run
// out, and the next start adopts their Vagrant processes (vms/orphans.ts).

const SIGNALS = ["SIGTERM", "SIGINT"] as const;
type Signal = (typeof SIGNALS)[number];

/** Beyond the grace: time for the stopped jobs to be recorded (a killed Vagrant, one `vagrant status`). */
export const RECORDING_MARGIN_MS = 30_000;
/** After the drain: how long Next may take to close its server before the process exits anyway. */
const HANDOVER_MS = 10_000;

export interface ShutdownOptions {
  /** Stops everything; resolves when done. */
  drain: () => Promise<void>;
  /** Exit even if the drain has not ended after this long. */
  limitMs: number;
  log?: (message: string) => void;
}

const globalForShutdown = globalThis as unknown as { twargaShutdownInstalled?: boolean };

export function installShutdownHandlers(opts: ShutdownOptions): void {
  if (globalForShutdown.twargaShutdownInstalled) return;
  globalForShutdown.twargaShutdownInstalled = true;
  const log = opts.log ?? ((m: string) => console.log(`[twarga] ${m}`));
  const handedOver = new Map<Signal, NodeJS.SignalsListener[]>();
  for (const signal of SIGNALS) {
    handedOver.set(signal, process.listeners(signal) as NodeJS.SignalsListener[]);
    process.removeAllListeners(signal);
  }
  let draining: Signal | null = null;

  const exitAfterDrain = (signal: Signal) => {
    const next = handedOver.get(signal) ?? [];
    if (next.length === 0) process.exit(0);
    // Next's own handler: closes the HTTP server, then exits with 128 + the signal number. Closing waits for open
    // requests; one that never ends (a stream a browser keeps open) must not keep the process up.
    setTimeout(() => {
      log(`open requests kept the server from closing for ${HANDOVER_MS / 1000} s: exiting`);
      process.exit(signal === "SIGINT" ? 130 : 143);
    }, HANDOVER_MS).unref();
    for (const listener of next) listener(signal);
  };

  const onSignal = (signal: Signal) => {
    if (draining) {
      log(`${signal} again: exiting now without waiting for running operations`);
      process.exit(signal === "SIGINT" ? 130 : 143);
    }
    draining = signal;
    log(`${signal}: stopping background services; running VM operations may take up to the grace period`);
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        log(`the drain did not end within ${Math.round(opts.limitMs / 1000)} s: exiting anyway`);
        resolve();
      }, opts.limitMs);
    });
    void Promise.race([opts.drain().catch((err: unknown) => log(`stopping failed: ${String(err)}`)), limit]).then(() => {
      clearTimeout(timer);
      log("background services stopped");
      exitAfterDrain(signal);
    });
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
}
