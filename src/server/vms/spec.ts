// Spec rules for a VM: the launch input schema (limits from settings) and the
// checks against the chosen box's minimums.
import { z } from "zod";
import { env, type Env } from "../env";
import { DomainError } from "../errors";

/** A DNS label: 1-63 of a-z, 0-9 and "-", not starting or ending with "-". */
export const VM_NAME_PATTERN = /^(?=.{1,63}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export const vmNameSchema = z
  .string()
  .trim()
  .regex(VM_NAME_PATTERN, "Use 1-63 lowercase letters, digits and hyphens; start and end with a letter or digit.");

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

const bounded = (label: string, unit: string, { min, max }: { min: number; max: number }) =>
  z.number().int(`${label} must be a whole number.`).min(min, `${label} must be at least ${min}${unit}.`).max(max, `${label} must be at most ${max}${unit}.`);

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
