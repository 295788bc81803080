// The VM background service: start-up reconciliation, the job runner (which also
// takes over the jobs of runners that died, see job-lease.ts) and the per-minute
// metering. Registered in src/server/background.ts; its stop() is the shutdown
// drain: running operations get SHUTDOWN_GRACE_S to finish.
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { ensureDefaultCatalog } from "./catalog";
import { enqueueOperation, SYSTEM } from "./lifecycle";
import { meterRunningVms } from "./metering";
import { reconcileStuckVms } from "./reconcile";
import { VmJobRunner, type RunnerOptions } from "./runner";

export interface VmServicesOptions extends RunnerOptions {
  /** Metering interval; one minute unless a test shortens it. */
  meterEveryMs?: number;
  /** How long stop() lets running jobs finish (default SHUTDOWN_GRACE_S). */
  shutdownGraceMs?: number;
}

/** Stops a VM on the system's behalf (metering at zero credits). */
export async function systemStopVm(db: Db, vmId: string): Promise<void> {
  const vm = await db.vm.findUnique({ where: { id: vmId }, select: { id: true, name: true, ownerId: true } });
  if (!vm) return;
  try {
    await enqueueOperation(db, SYSTEM, vm, "stop");
  } catch {
    // Busy with another operation; the next pass tries again.
  }
}

export async function startVmServices(db: Db, options: VmServicesOptions = {}): Promise<{ stop(): Promise<void>; runner: VmJobRunner }> {
  const e: Env = options.env ?? env();
  await ensureDefaultCatalog(db);
  // Jobs the previous run left RUNNING are the runner's: it waits for their Vagrant if it outlived the app (orphans.ts).
  const recovered = await reconcileStuckVms(db, e);
  if (recovered > 0) console.log(`[vms] reconciled ${recovered} VM(s) left in a busy state without a job by the previous run`);
  const runner = new VmJobRunner(db, { ...options, env: e }).start();
  let metering: Promise<unknown> = Promise.resolve();
  const meter = setInterval(() => {
    metering = metering
      .then(() => meterRunningVms(db, new Date(), (vmId) => systemStopVm(db, vmId), e))
      .catch((err) => console.error("[vms] metering failed:", err));
  }, options.meterEveryMs ?? 60_000);
  meter.unref();
  return {
    runner,
    async stop() {
      clearInterval(meter);
      await metering;
      await runner.stop(options.shutdownGraceMs ?? e.SHUTDOWN_GRACE_S * 1000);
    },
  };
}
