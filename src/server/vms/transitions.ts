// The VM state machine: the one table of which operation may start from which
// state, which state it holds while it runs, and how the real state Vagrant
// reports maps back onto ours.
import type { VmJobKind, VmState } from "~/generated/prisma/sqlite/enums";

export type VmOperation = "create" | "start" | "stop" | "restart" | "destroy";

export interface OperationRule {
  kind: VmJobKind;
  /** States the VM must be in for the operation to be accepted. */
  from: readonly VmState[];
  /** The state the VM holds while the operation is queued or running. */
  during: VmState;
  /** What the operation is called in messages. */
  verb: string;
}

export const OPERATIONS: Record<VmOperation, OperationRule> = {
  create: { kind: "CREATE", from: ["PENDING"], during: "CREATING", verb: "create" },
  start: { kind: "START", from: ["STOPPED", "ERROR"], during: "STARTING", verb: "start" },
  stop: { kind: "STOP", from: ["RUNNING"], during: "STOPPING", verb: "stop" },
  restart: { kind: "RESTART", from: ["RUNNING"], during: "RESTARTING", verb: "restart" },
  destroy: { kind: "DESTROY", from: ["PENDING", "RUNNING", "STOPPED", "ERROR"], during: "DESTROYING", verb: "destroy" },
};

export const OPERATION_OF_KIND: Record<VmJobKind, VmOperation> = { CREATE: "create", START: "start", STOP: "stop", RESTART: "restart", DESTROY: "destroy" };

/** States in which an operation is queued or running. */
export const BUSY_STATES: readonly VmState[] = ["CREATING", "STARTING", "STOPPING", "RESTARTING", "DESTROYING"];
/** States in which the machine is (or may be) up and therefore charged. */
export const UP_STATES: readonly VmState[] = ["RUNNING", "STOPPING", "RESTARTING"];
/** States that count against the "running at once" quota and the credit check; PENDING is a launch that won its claim and is about to be created. */
export const RUNNING_QUOTA_STATES: readonly VmState[] = ["PENDING", "CREATING", "STARTING", "RUNNING", "STOPPING", "RESTARTING"];

export function allowedOperations(state: VmState): VmOperation[] {
  return (Object.keys(OPERATIONS) as VmOperation[]).filter((op) => op !== "create" && OPERATIONS[op].from.includes(state));
}

/** Why an operation cannot start now, for a CONFLICT message; null when it can. */
export function refusalReason(op: VmOperation, state: VmState, vmName: string): string | null {
  const rule = OPERATIONS[op];
  if (rule.from.includes(state)) return null;
  if (BUSY_STATES.includes(state)) return `${vmName} is busy (${state.toLowerCase()}); wait for that operation to finish before you ${rule.verb} it.`;
  if (state === "DESTROYED") return `${vmName} has been destroyed.`;
  return `Cannot ${rule.verb} ${vmName} while it is ${state.toLowerCase()}.`;
}

/**
 * Our state for what `vagrant status` reports. `not_created` depends on what
 * was going on: after a destroy it is the goal, otherwise the machine is gone.
 */
export function stateFromVagrant(vagrantState: string, context: { operation: VmOperation | null }): { state: VmState; error: string | null } {
  switch (vagrantState) {
    case "running":
      return { state: "RUNNING", error: null };
    case "shutoff":
    case "shutdown":
    case "poweroff":
    case "not_running":
    case "stopped":
    case "crashed":
    case "paused":
    case "suspended":
    case "pmsuspended":
      return { state: "STOPPED", error: null };
    case "not_created":
      if (context.operation === "destroy") return { state: "DESTROYED", error: null };
      return { state: "ERROR", error: "The virtual machine does not exist on the host (Vagrant reports it as not created)." };
    case "inaccessible":
      return { state: "ERROR", error: "The VM runs but Vagrant cannot reach it (no network address from libvirt's DHCP). Start it again, or destroy it." };
    default:
      return { state: "ERROR", error: `Vagrant reports an unexpected state: ${vagrantState}.` };
  }
}
