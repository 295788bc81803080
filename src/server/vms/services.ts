// The VM background service: start-up reconciliation, the job runner and the
// per-minute metering. Registered in src/server/background.ts.
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { ensureDefaultCatalog } from "./catalog";
import { enqueueOperation, SYSTEM } from "./lifecycle";
import { meterRunningVms } from "./metering";
import { recoverInterruptedJobs } from "./reconcile";
import { VmJobRunner, type RunnerOptions } from "./runner";

export interface VmServicesOptions extends RunnerOptions {
  /** Metering interval; one minute unless a test shortens it. */
  meterEveryMs?: number;
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
  const recovered = await recoverInterruptedJobs(db, e);
  if (recovered > 0) console.log(`[vms] reconciled ${recovered} VM(s) left mid-operation by the previous run`);
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
      await runner.stop();
    },
  };
}
