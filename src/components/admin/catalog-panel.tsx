"use client";
// The box catalog: add a box, edit one in place, disable or enable it; which
// entries' boxes this host has installed (only those are offered at launch), and
// the installed boxes themselves with their size and when they were added, and
// installing a box from a .box file on the host or a URL, with its progress.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent, type ReactNode } from "react";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "~/server/api/root";
import { formatValue } from "~/server/metrics/format";
import { useTRPC } from "~/trpc/react";
import { When } from "~/components/shell/when";
import { btn, card, field } from "./admin-nav";

type Catalog = inferRouterOutputs<AppRouter>["admin"]["boxes"];
type Box = Catalog["entries"][number];

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

/** A visible label above its input, so every field says what it is (not only to screen readers). */
function Labelled({ text, className = "", children }: { text: string; className?: string; children: ReactNode }) {
  return (
    <label className={`block min-w-0 text-xs text-gray-600 dark:text-gray-400 ${className}`}>
      {text}
      {children}
    </label>
  );
}

function BoxForm({ box, onSubmit, label }: { box?: Box; onSubmit: (e: FormEvent<HTMLFormElement>) => void; label: string }) {
  const input = `${field} mt-0.5 w-full text-sm text-gray-900 dark:text-gray-100`;
  return (
    <form onSubmit={onSubmit} className="grid grid-cols-2 items-end gap-2 sm:grid-cols-4 lg:grid-cols-8">
      <Labelled text="Vagrant box name" className="col-span-2">
        <input name="name" required defaultValue={box?.name} placeholder="owner/box" className={input} />
      </Labelled>
      <Labelled text="Display name" className="col-span-2">
        <input name="displayName" required defaultValue={box?.displayName} placeholder="Debian 12" className={input} />
      </Labelled>
      <Labelled text="OS family">
        <input name="osFamily" required defaultValue={box?.osFamily ?? "debian"} className={input} />
      </Labelled>
      <Labelled text="Min vCPUs">
        <input name="minCpus" type="number" min={1} required defaultValue={box?.minCpus ?? 1} className={input} />
      </Labelled>
      <Labelled text="Min RAM (MB)">
        <input name="minRamMb" type="number" min={128} required defaultValue={box?.minRamMb ?? 512} className={input} />
      </Labelled>
      <Labelled text="Min disk (GB)">
        <input name="minDiskGb" type="number" min={1} required defaultValue={box?.minDiskGb ?? 10} className={input} />
      </Labelled>
      <label className="flex items-center gap-1 text-sm">
        <input name="enabled" type="checkbox" defaultChecked={box?.enabled ?? true} /> enabled
      </label>
      <button className={btn}>{label}</button>
    </form>
  );
}

function InstalledBadge({ installed }: { installed: boolean }) {
  return installed ? (
    <span
      className="rounded-full bg-emerald-100 px-2 py-0.5 text-xs font-medium text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200"
      data-testid="box-installed"
    >
      installed on this host
    </span>
  ) : (
    <span className="rounded-full bg-amber-100 px-2 py-0.5 text-xs font-medium text-amber-800 dark:bg-amber-950 dark:text-amber-200" data-testid="box-missing">
      box missing: not offered at launch
    </span>
  );
}

/**
 * `vagrant box add` from a file on the host or an http(s) URL, and the recent adds with their progress; the list
 * is asked again every 2 s while an add runs (the row is written by whichever process runs vagrant).
 */
function BoxAddSection() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [kind, setKind] = useState<"path" | "url">("path");
  const [message, setMessage] = useState<string | null>(null);
  const adds = useQuery({
    ...trpc.admin.boxAdds.queryOptions(),
    refetchInterval: (q) => (q.state.data?.some((a) => a.state === "RUNNING") ? 2000 : false),
  });
  const running = adds.data?.some((a) => a.state === "RUNNING") ?? false;
  const [wasRunning, setWasRunning] = useState(false);
  // When the last add ends, the installed boxes (and the catalog's "installed" badges) change: ask for them again.
  if (running !== wasRunning) {
    setWasRunning(running);
    if (!running) void qc.invalidateQueries({ queryKey: trpc.admin.boxes.queryKey() });
  }
  const add = useMutation(
    trpc.admin.boxAdd.mutationOptions({
      onSuccess: () => (setMessage(null), void qc.invalidateQueries({ queryKey: trpc.admin.boxAdds.queryKey() })),
      onError: (e) => setMessage(e.message),
    }),
  );
  const input = `${field} mt-0.5 w-full text-sm text-gray-900 dark:text-gray-100`;
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const where = String(f.get("where"));
    add.mutate({ name: String(f.get("name")), source: kind === "path" ? { kind, path: where } : { kind, url: where } });
  };
  return (
    <section className={`${card} space-y-3 p-3`} data-testid="box-adds">
      <h2 className="text-sm font-medium">Install a box on this host</h2>
      <form onSubmit={submit} className="grid grid-cols-2 items-end gap-2 sm:grid-cols-4 lg:grid-cols-8">
        <Labelled text="From">
          <select value={kind} onChange={(e) => setKind(e.target.value as "path" | "url")} className={input}>
            <option value="path">a file on the host</option>
            <option value="url">a URL</option>
          </select>
        </Labelled>
        <Labelled text={kind === "path" ? "Absolute path of the .box file" : "http(s) URL of the .box file"} className="col-span-2 sm:col-span-3 lg:col-span-4">
          <input
            name="where"
            required
            maxLength={kind === "path" ? 1024 : 2048}
            placeholder={kind === "path" ? "/srv/boxes/debian12.box" : "https://example.com/debian12.box"}
            className={input}
          />
        </Labelled>
        <Labelled text="Vagrant box name" className="col-span-2">
          <input name="name" required maxLength={200} placeholder="owner/box" className={input} />
        </Labelled>
        <button className={btn} disabled={add.isPending}>
          Install
        </button>
      </form>
      {message && (
        <p className="rounded bg-red-50 p-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-200" role="alert">
          {message}
        </p>
      )}
      <ul className="divide-y divide-gray-100 text-sm dark:divide-gray-800">
        {adds.data?.map((a) => (
          <li key={a.id} className="space-y-1 py-1.5" data-testid="box-add">
            <p className="flex flex-wrap items-baseline gap-x-3">
              <span className="font-mono">{a.name}</span>
              <span className="min-w-0 truncate text-gray-500">{a.source}</span>
              <span
                className={a.state === "FAILED" ? "text-red-700 dark:text-red-300" : a.state === "SUCCEEDED" ? "text-emerald-700 dark:text-emerald-300" : ""}
              >
                {a.state === "RUNNING" ? `adding… ${a.progress}%` : a.state === "SUCCEEDED" ? "added" : "failed"}
              </span>
              <span className="text-gray-500">
                by {a.requestedByEmail}, <When value={a.startedAt} />
              </span>
            </p>
            {a.state === "RUNNING" && (
              <progress className="h-2 w-full" max={100} value={a.progress} aria-label={`Adding ${a.name}`}>
                {a.progress}%
              </progress>
            )}
            {a.state === "FAILED" && a.error && <p className="text-red-700 dark:text-red-300">{a.error}</p>}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function CatalogPanel() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [message, setMessage] = useState<string | null>(null);
  const catalog = useQuery(trpc.admin.boxes.queryOptions());
  const opts = {
    onSuccess: () => (setMessage(null), void qc.invalidateQueries({ queryKey: trpc.admin.boxes.queryKey() })),
    onError: (e: { message: string }) => setMessage(e.message),
  };
  const create = useMutation(trpc.admin.boxCreate.mutationOptions(opts));
  const update = useMutation(trpc.admin.boxUpdate.mutationOptions(opts));
  return (
    <div className="space-y-4">
      {message && (
        <p className="rounded bg-red-50 p-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-200" role="alert">
          {message}
        </p>
      )}
      <div className={`${card} p-3`}>
        <h2 className="mb-2 text-sm font-medium">Add a box</h2>
        <BoxForm label="Add" onSubmit={(e) => (e.preventDefault(), create.mutate(fieldsFrom(e)))} />
      </div>
      <ul className={`${card} divide-y divide-gray-100 dark:divide-gray-800`} data-testid="admin-boxes">
        {catalog.data?.entries.map((b) => (
          <li key={b.id} className={`space-y-2 p-3 ${b.enabled ? "" : "opacity-60"}`} data-testid="admin-box">
            <p className="flex flex-wrap items-center gap-2 text-sm">
              <span className="font-mono">{b.name}</span>
              <InstalledBadge installed={b.installed} />
            </p>
            <BoxForm box={b} label="Save" onSubmit={(e) => (e.preventDefault(), update.mutate({ id: b.id, ...fieldsFrom(e) }))} />
          </li>
        ))}
      </ul>
      <BoxAddSection />
      <section className={`${card} p-3`} data-testid="installed-boxes">
        <h2 className="mb-2 text-sm font-medium">Boxes installed on this host</h2>
        {catalog.data?.installedError && (
          <p className="text-sm text-red-700 dark:text-red-300" role="alert">
            {catalog.data.installedError}
          </p>
        )}
        {catalog.data && catalog.data.installed.length === 0 && !catalog.data.installedError && (
          <p className="text-sm text-gray-600 dark:text-gray-400">None. Build one with scripts/build-box.sh, or install one above from a .box file or URL.</p>
        )}
        <ul className="divide-y divide-gray-100 text-sm dark:divide-gray-800">
          {catalog.data?.installed.map((b) => (
            <li key={`${b.name} ${b.version}`} className="flex flex-wrap items-baseline gap-x-3 gap-y-1 py-1.5">
              <span className="font-mono">{b.name}</span>
              <span className="text-gray-500">version {b.version}</span>
              <span className="tabular-nums">{b.sizeBytes === null ? "size unknown" : formatValue("bytes", b.sizeBytes)}</span>
              {b.addedAt && (
                <span className="text-gray-500">
                  added <When value={b.addedAt} />
                </span>
              )}
              {!b.inCatalog && <span className="text-xs text-gray-500">(not in the catalog)</span>}
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
