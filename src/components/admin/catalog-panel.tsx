"use client";
// The box catalog: add a box, edit one in place, disable or enable it.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "~/server/api/root";
import { useTRPC } from "~/trpc/react";
import { btn, card, field } from "./admin-nav";

type Box = inferRouterOutputs<AppRouter>["admin"]["boxes"][number];

function fieldsFrom(e: FormEvent<HTMLFormElement>) {
  const f = new FormData(e.currentTarget);
  return {
    name: String(f.get("name")),
    displayName: String(f.get("displayName")),
    osFamily: String(f.get("osFamily")),
    minCpus: Number(f.get("minCpus")),
    minRamMb: Number(f.get("minRamMb")),
    minDiskGb: Number(f.get("minDiskGb")),
    enabled: f.get("enabled") === "on",
  };
}

function BoxForm({ box, onSubmit, label }: { box?: Box; onSubmit: (e: FormEvent<HTMLFormElement>) => void; label: string }) {
  return (
    <form onSubmit={onSubmit} className="grid grid-cols-2 gap-2 sm:grid-cols-4 lg:grid-cols-8">
      <input name="name" required defaultValue={box?.name} placeholder="owner/box" className={`${field} col-span-2`} aria-label="Vagrant box name" />
      <input name="displayName" required defaultValue={box?.displayName} placeholder="Display name" className={`${field} col-span-2`} aria-label="Display name" />
      <input name="osFamily" required defaultValue={box?.osFamily ?? "debian"} className={field} aria-label="OS family" />
      <input name="minCpus" type="number" min={1} required defaultValue={box?.minCpus ?? 1} className={field} aria-label="Minimum vCPUs" title="Minimum vCPUs" />
      <input name="minRamMb" type="number" min={128} required defaultValue={box?.minRamMb ?? 512} className={field} aria-label="Minimum RAM MB" title="Minimum RAM (MB)" />
      <input name="minDiskGb" type="number" min={1} required defaultValue={box?.minDiskGb ?? 10} className={field} aria-label="Minimum disk GB" title="Minimum disk (GB)" />
      <label className="flex items-center gap-1 text-sm">
        <input name="enabled" type="checkbox" defaultChecked={box?.enabled ?? true} /> enabled
      </label>
      <button className={btn}>{label}</button>
    </form>
  );
}

export function CatalogPanel() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [message, setMessage] = useState<string | null>(null);
  const boxes = useQuery(trpc.admin.boxes.queryOptions());
  const opts = { onSuccess: () => (setMessage(null), void qc.invalidateQueries({ queryKey: trpc.admin.boxes.queryKey() })), onError: (e: { message: string }) => setMessage(e.message) };
  const create = useMutation(trpc.admin.boxCreate.mutationOptions(opts));
  const update = useMutation(trpc.admin.boxUpdate.mutationOptions(opts));
  return (
    <div className="space-y-4">
      {message && <p className="rounded bg-red-50 p-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-200" role="alert">{message}</p>}
      <div className={`${card} p-3`}>
        <h2 className="mb-2 text-sm font-medium">Add a box</h2>
        <BoxForm label="Add" onSubmit={(e) => (e.preventDefault(), create.mutate(fieldsFrom(e)))} />
      </div>
      <ul className={`${card} divide-y divide-gray-100 dark:divide-gray-800`} data-testid="admin-boxes">
        {boxes.data?.map((b) => (
          <li key={b.id} className={`p-3 ${b.enabled ? "" : "opacity-60"}`}>
            <BoxForm box={b} label="Save" onSubmit={(e) => (e.preventDefault(), update.mutate({ id: b.id, ...fieldsFrom(e) }))} />
          </li>
        ))}
      </ul>
    </div>
  );
}
