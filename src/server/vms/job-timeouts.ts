// Each kind of job's time limit, from the settings: the runner ends a Vagrant
// command at its limit, and a recovery waits that long for one that outlived its app.
import type { VmJobKind } from "~/generated/prisma/sqlite/client";
import { env, type Env } from "../env";

export type JobTimeouts = Record<VmJobKind, number>;

export function jobTimeouts(e: Env = env()): JobTimeouts {
  const up = e.VM_TIMEOUT_UP_S * 1000;
  const halt = e.VM_TIMEOUT_HALT_S * 1000;
  return { CREATE: up, START: up, STOP: halt, RESTART: halt + up, DESTROY: e.VM_TIMEOUT_DESTROY_S * 1000 };
}
