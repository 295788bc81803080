"use client";
// The launch form: box, name and spec, with the hourly cost shown live before
// the user confirms. The server validates everything again.
import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useDeferredValue, useState } from "react";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "~/server/api/root";
import { useTRPC } from "~/trpc/react";
import { useVmActionsStatus } from "./host-status";
import { formatCredits } from "./state-badge";

type Catalog = inferRouterOutputs<AppRouter>["vms"]["catalog"];

const NAME_PATTERN = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";

export function LaunchForm({ catalog }: { catalog: Catalog }) {
  const trpc = useTRPC();
  const router = useRouter();
  const { limits, boxes } = catalog;
  const hostReady = useVmActionsStatus().enabled;
  const [name, setName] = useState("");
  const [boxId, setBoxId] = useState(boxes[0]?.id ?? "");
  const box = boxes.find((b) => b.id === boxId);
  const [cpus, setCpus] = useState(Math.max(limits.cpus.min, box?.minCpus ?? 1));
  const [ramMb, setRamMb] = useState(Math.max(limits.ramMb.min, box?.minRamMb ?? 512, 1024));
  const [diskGb, setDiskGb] = useState(Math.max(limits.diskGb.min, box?.minDiskGb ?? 10, 20));
  const spec = useDeferredValue({ cpus, ramMb, diskGb });
  const specValid = [
    [spec.cpus, limits.cpus],
    [spec.ramMb, limits.ramMb],
    [spec.diskGb, limits.diskGb],
  ].every(([v, l]) => Number.isInteger(v) && (v as number) >= (l as { min: number }).min && (v as number) <= (l as { max: number }).max);
  const estimate = useQuery(trpc.vms.costEstimate.queryOptions(spec, { enabled: specValid, placeholderData: (prev) => prev }));
  const create = useMutation(trpc.vms.create.mutationOptions({ onSuccess: (r) => router.push(`/vms/${r.id}`) }));
  const fieldErrors = (create.error?.data as { fieldErrors?: Record<string, string[] | undefined> } | undefined)?.fieldErrors ?? null;

  if (boxes.length === 0) return <p className="text-gray-600 dark:text-gray-300">No boxes are enabled in the catalog. Ask an admin to add one.</p>;

  const input = "mt-1 w-full rounded border border-gray-300 bg-white px-2 py-1.5 dark:border-gray-700 dark:bg-gray-900";
  const number = (label: string, unit: string, value: number, set: (n: number) => void, l: { min: number; max: number }, step: number, field: string) => (
    <label className="block text-sm">
      <span className="font-medium">
        {label} <span className="font-normal text-gray-500">({l.min}–{l.max}{unit})</span>
      </span>
      <input type="number" inputMode="numeric" min={l.min} max={l.max} step={step} value={Number.isNaN(value) ? "" : value} onChange={(e) => set(e.target.valueAsNumber)} className={input} data-testid={`launch-${field}`} required />
      {fieldErrors?.[field]?.map((m) => (
        <span key={m} className="mt-1 block text-xs text-red-700 dark:text-red-300">
          {m}
        </span>
      ))}
    </label>
  );

  return (
    <form
      className="max-w-xl space-y-4"
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate({ name, boxId, cpus, ramMb, diskGb });
      }}
    >
      <label className="block text-sm">
        <span className="font-medium">Name</span>
        <input value={name} onChange={(e) => setName(e.target.value.toLowerCase())} pattern={NAME_PATTERN} maxLength={63} required placeholder="web-1" className={`${input} font-mono`} data-testid="launch-name" autoComplete="off" />
        <span className="mt-1 block text-xs text-gray-500">Lowercase letters, digits and hyphens; it becomes the hostname.</span>
        {fieldErrors?.name?.map((m) => (
          <span key={m} className="mt-1 block text-xs text-red-700 dark:text-red-300">
            {m}
          </span>
        ))}
      </label>
      <label className="block text-sm">
        <span className="font-medium">Box</span>
        <select value={boxId} onChange={(e) => setBoxId(e.target.value)} className={input} data-testid="launch-box">
          {boxes.map((b) => (
            <option key={b.id} value={b.id}>
              {b.displayName} ({b.name})
            </option>
          ))}
        </select>
        {box && (
          <span className="mt-1 block text-xs text-gray-500">
            Needs at least {box.minCpus} vCPU, {box.minRamMb} MB RAM, {box.minDiskGb} GB disk.
          </span>
        )}
      </label>
      <div className="grid gap-3 sm:grid-cols-3">
        {number("vCPUs", "", cpus, setCpus, limits.cpus, 1, "cpus")}
        {number("RAM", " MB", ramMb, setRamMb, limits.ramMb, 256, "ramMb")}
        {number("Disk", " GB", diskGb, setDiskGb, limits.diskGb, 1, "diskGb")}
      </div>
      <div className="rounded-lg border border-gray-200 bg-white p-3 text-sm dark:border-gray-800 dark:bg-gray-900" data-testid="launch-cost">
        {specValid && estimate.data ? (
          <>
            <p>
              <span className="text-lg font-semibold tabular-nums">{formatCredits(estimate.data.perHour)}</span> credits per hour while running ({formatCredits(estimate.data.perDay)} per day).
            </p>
            <p className="text-gray-500 dark:text-gray-400">
              Your balance: {formatCredits(estimate.data.balance)}
              {estimate.data.affordableHours !== null && ` — about ${Math.floor(estimate.data.affordableHours)} h of this VM.`}
            </p>
          </>
        ) : (
          <p className="text-gray-500">Enter a spec within the limits to see its cost.</p>
        )}
      </div>
      {create.error && !fieldErrors && (
        <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="launch-error">
          {create.error.message}
        </p>
      )}
      <button type="submit" disabled={create.isPending || !specValid || !hostReady} className="rounded bg-blue-600 px-4 py-2 font-medium text-white hover:bg-blue-700 disabled:opacity-50" data-testid="launch-submit">
        {create.isPending ? "Launching…" : "Launch VM"}
      </button>
    </form>
  );
}
