// Current step and a progress estimate for a running job, derived from the
// `ui` lines Vagrant prints. Milestones are the messages a real
// vagrant-libvirt run prints (see fixtures/vagrant/up-machine-readable.txt);
// progress only moves forward.
import type { VmJobKind } from "~/generated/prisma/sqlite/enums";
import type { MachineReadableLine } from "./machine-readable";

const UP: Array<[RegExp, number]> = [
  [/Bringing machine .* up/, 5],
  [/Creating image/, 10],
  [/Creating domain with the following settings/, 20],
  [/Creating shared folders metadata/, 30],
  [/Starting domain/, 40],
  [/Waiting for domain to get an IP address/, 50],
  [/Waiting for machine to boot/, 70],
  [/Warning: .*Retrying/, 80],
  [/Machine booted and ready/, 95],
];
const HALT: Array<[RegExp, number]> = [
  [/Attempting graceful shutdown/, 40],
  [/Halting domain|Forcing shutdown/i, 70],
];
const DESTROY: Array<[RegExp, number]> = [
  [/Removing domain/, 50],
  [/Deleting the machine folder/, 80],
];

export const MILESTONES: Record<VmJobKind, Array<[RegExp, number]>> = {
  CREATE: UP,
  START: UP,
  // `vagrant reload` halts then boots: the halt half maps into 0-40 %.
  RESTART: [
    ...HALT.map(([re, p]) => [re, Math.round(p / 2)] as [RegExp, number]),
    ...UP.map(([re, p]) => [re, 40 + Math.round((p * 60) / 100)] as [RegExp, number]),
  ],
  STOP: HALT,
  DESTROY,
};

export interface Progress {
  step: string | null;
  progress: number;
}

/** Folds one record into the job's progress. */
export function advanceProgress(kind: VmJobKind, current: Progress, record: MachineReadableLine): Progress {
  if (record.type !== "ui") return current;
  const text = record.data.slice(1).join(",");
  const firstLine = (text.split("\n")[0] ?? "").replace(/^\s*(==>\s*)?default:\s*/, "").trim();
  let progress = current.progress;
  for (const [re, p] of MILESTONES[kind]) if (re.test(text)) progress = Math.max(progress, p);
  // Detail lines of the settings table ("-- Cpus: 1") are not steps.
  const isStep = firstLine !== "" && !firstLine.startsWith("--");
  return { step: isStep ? firstLine.slice(0, 200) : current.step, progress };
}
