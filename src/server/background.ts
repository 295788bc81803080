// The one list of long-running services a server process runs (sampler, VM job
// runner and metering, retention, sshd log follower, SSH port forwarding, guest
// key sync). Each returns a handle whose stop() finishes work in flight;
// SIGTERM stops them all (shutdown.ts, installed by start.ts).
export interface BackgroundService {
  name: string;
  stop(): Promise<void>;
}

const services: BackgroundService[] = [];

type Starter = { name: string; start: () => Promise<{ stop(): Promise<void> }> | { stop(): Promise<void> } };

/** Registered starters, in start order. Areas add theirs here. */
const starters: Starter[] = [
  {
    name: "security events (correlation rules, sshd log follower, retention)",
    start: async () => (await import("./events/service")).startEventServices((await import("./db")).db),
  },
  {
    name: "host readiness (checked every HOST_CHECK_INTERVAL_S, stored for every process to read)",
    start: async () => (await import("./hypervisor/readiness")).startHostReadinessChecks((await import("./db")).db),
  },
  {
    name: "VM jobs (start-up reconciliation, job runner, per-minute metering)",
    start: async () => (await import("./vms/services")).startVmServices((await import("./db")).db),
  },
  {
    name: "SSH port forwarding (a listener per running VM)",
    start: async () => (await import("./access/ssh-forwarder")).startSshForwarder((await import("./db")).db),
  },
  {
    name: "guest key sync (owners' SSH keys into running VMs, every minute)",
    start: async () => (await import("./access/key-sync")).startKeySync((await import("./db")).db),
  },
  {
    name: "metrics sampler (host and VM readings, VM state from libvirt, rollups, alerts, retention; while holding this host's sampler lease)",
    // The VM list and the reconciliation of what the sampler observes come from the vms area (metrics knows no VMs).
    // Every background process starts this; only the holder of the host's lease samples (metrics/service.ts).
    start: async () => {
      const { db } = await import("./db");
      const { createObservedVmSource } = await import("./vms/observed-state");
      return (await import("./metrics/service")).startMetricsServices(db, createObservedVmSource(db));
    },
  },
  {
    name: "Prometheus listener without a token (only when METRICS_LISTEN is set; loopback only)",
    start: async () => {
      const listen = (await import("./env")).env().METRICS_LISTEN;
      if (!listen) return { stop: async () => {} };
      return (await import("./metrics/exposition")).startMetricsListener((await import("./db")).db, listen);
    },
  },
  {
    name: "alert notifications (webhook and ntfy deliveries that are due, resumed after a restart)",
    start: async () => (await import("./metrics/alerts/deliveries")).startDeliveries((await import("./db")).db),
  },
  // Terminals start on demand (src/server/access/terminal-sessions.ts); this only closes and records them on a graceful stop.
  {
    name: "browser terminals (closed and recorded at shutdown)",
    start: async () => ({
      stop: async () => (await import("./access/terminal-sessions")).terminalSessions((await import("./db")).db).closeAll("the app is stopping"),
    }),
  },
];

export async function startBackgroundServices(): Promise<void> {
  for (const s of starters) {
    try {
      const handle = await s.start();
      services.push({ name: s.name, stop: () => handle.stop() });
      console.log(`[twarga] started ${s.name}`);
    } catch (err) {
      // One failing service must not keep the others or the web app down.
      console.error(`[twarga] could not start ${s.name}:`, err);
    }
  }
}

/** Stops every started service, each finishing its work in flight (the shutdown drain in shutdown.ts calls it). */
export async function stopBackgroundServices(): Promise<void> {
  await Promise.allSettled(
    services
      .splice(0)
      .reverse()
      .map((s) => s.stop()),
  );
  // The sampler's long-lived virsh, once nothing can send it a command any more.
  await (await import("./hypervisor/virsh-session")).closeVirshSessions();
}
