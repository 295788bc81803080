// Spec rules for a VM: the launch input schema (limits from settings) and the
// checks against the chosen box's minimums.
import { z } from "zod";
import { env, type Env } from "../env";
import { DomainError } from "../errors";
import { boundMessages, VM_NAME_PATTERN, VM_NAME_RULE } from "./spec-rules";

export { VM_NAME_PATTERN };

// The max only stops absurd payloads before the pattern runs; the pattern (63 characters) is the rule people see.
export const vmNameSchema = z.string().trim().max(100, VM_NAME_RULE).regex(VM_NAME_PATTERN, VM_NAME_RULE);

export interface SpecLimits {
  cpus: { min: number; max: number };
  ramMb: { min: number; max: number };
  diskGb: { min: number; max: number };
}

export function specLimits(e: Env = env()): SpecLimits {
  return {
    cpus: { min: e.VM_CPUS_MIN, max: e.VM_CPUS_MAX },
    ramMb: { min: e.VM_RAM_MB_MIN, max: e.VM_RAM_MB_MAX },
    diskGb: { min: e.VM_DISK_GB_MIN, max: e.VM_DISK_GB_MAX },
  };
}

const bounded = (label: string, unit: string, bounds: { min: number; max: number }) => {
  const m = boundMessages(label, unit, bounds);
  return z.number().int(m.whole).min(bounds.min, m.min).max(bounds.max, m.max);
};

export function specSchema(limits: SpecLimits = specLimits()) {
  return z.object({
    cpus: bounded("vCPUs", "", limits.cpus),
    ramMb: bounded("RAM", " MB", limits.ramMb),
    diskGb: bounded("Disk", " GB", limits.diskGb),
  });
}

/** The launch form's input, validated on the server. */
export function createVmInputSchema(limits: SpecLimits = specLimits()) {
  return specSchema(limits).extend({
    name: vmNameSchema,
    boxId: z.string().min(1).max(64),
  });
}

export type VmSpec = z.infer<ReturnType<typeof specSchema>>;
export type CreateVmInput = z.infer<ReturnType<typeof createVmInputSchema>>;

/** A box may need more than the global minimums. */
export function checkBoxMinimums(spec: VmSpec, box: { displayName: string; minCpus: number; minRamMb: number; minDiskGb: number }): void {
  const problems: string[] = [];
  if (spec.cpus < box.minCpus) problems.push(`at least ${box.minCpus} vCPUs`);
  if (spec.ramMb < box.minRamMb) problems.push(`at least ${box.minRamMb} MB of RAM`);
  if (spec.diskGb < box.minDiskGb) problems.push(`at least ${box.minDiskGb} GB of disk`);
  if (problems.length) throw new DomainError("BAD_REQUEST", `${box.displayName} needs ${problems.join(", ")}.`);
}
