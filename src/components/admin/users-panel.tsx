"use client";
// Users: search, role, disable/enable, delete, credits, quota overrides, and
// bulk actions reported per user. Every button calls an audited admin procedure.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "~/server/api/root";
import { useTRPC } from "~/trpc/react";
import { btn, btnDanger, card, field } from "./admin-nav";
import { When } from "~/components/shell/when";

type UserRow = inferRouterOutputs<AppRouter>["admin"]["users"][number];
type BulkOutcome = inferRouterOutputs<AppRouter>["admin"]["bulk"][number];

export function UsersPanel({ selfId }: { selfId: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [q, setQ] = useState("");
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [outcomes, setOutcomes] = useState<BulkOutcome[] | null>(null);
  const users = useQuery(trpc.admin.users.queryOptions({ q: q || undefined }, { refetchInterval: 10_000 }));
  const refresh = () => qc.invalidateQueries({ queryKey: trpc.admin.pathKey() });
  const done = { onSuccess: () => void refresh(), onError: (e: { message: string }) => setMessage(e.message) };
  const setRole = useMutation(trpc.admin.setRole.mutationOptions(done));
  const setDisabled = useMutation(trpc.admin.setDisabled.mutationOptions(done));
  const deleteUser = useMutation(
    trpc.admin.deleteUser.mutationOptions({
      ...done,
      onSuccess: (r) => (
        setMessage(
          r.status === "deleted"
            ? "User deleted."
            : `Destroying ${r.remainingVms.length} VM(s) first (${r.remainingVms.join(", ")}); delete again once they are gone.`,
        ),
        void refresh()
      ),
    }),
  );
  const bulk = useMutation(trpc.admin.bulk.mutationOptions({ ...done, onSuccess: (r) => (setOutcomes(r), void refresh()) }));

  const toggle = (id: string) => setSelected((s) => (s.has(id) ? (s.delete(id), new Set(s)) : new Set(s.add(id))));
  const ids = [...selected];
  const disable = (u: UserRow) => {
    const stopVms = u.runningVms > 0 && window.confirm(`${u.email} has ${u.runningVms} running VM(s). Stop them too? (Cancel keeps them running.)`);
    setDisabled.mutate({ userId: u.id, disabled: true, stopVms });
  };
  const remove = (u: UserRow) => {
    if (window.prompt(`Delete ${u.email}? Their VMs are destroyed first; their events stay. Type the email to confirm.`) === u.email)
      deleteUser.mutate({ userId: u.id });
  };
  const bulkGrant = () => {
    const amount = Number(window.prompt("Credits to grant each selected user (negative to deduct):") ?? "");
    const reason = amount ? window.prompt("Reason (shown in their ledger):") : null;
    if (amount && reason) bulk.mutate({ userIds: ids, action: { kind: "grant", amount, reason, idempotencyKey: newIdempotencyKey() } });
  };

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-2">
        <input
          value={q}
          onChange={(e) => setQ(e.target.value)}
          placeholder="Search email or name"
          className={`${field} min-w-0 flex-1`}
          aria-label="Search users"
          data-testid="user-search"
        />
        {ids.length > 0 && (
          <div className="flex flex-wrap items-center gap-2 text-sm" data-testid="bulk-bar">
            <span>{ids.length} selected:</span>
            <button className={btn} onClick={() => bulk.mutate({ userIds: ids, action: { kind: "disable" } })}>
              Disable
            </button>
            <button className={btn} onClick={() => bulk.mutate({ userIds: ids, action: { kind: "enable" } })}>
              Enable
            </button>
            <button className={btn} onClick={bulkGrant}>
              Grant credits
            </button>
          </div>
        )}
      </div>
      {message && (
        <p className="rounded bg-amber-50 p-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-100" role="status">
          {message}{" "}
          <button className="ml-2 underline" onClick={() => setMessage(null)}>
            dismiss
          </button>
        </p>
      )}
      {outcomes && (
        <div className={`${card} p-3 text-sm`} data-testid="bulk-outcomes">
          <div className="mb-1 flex justify-between font-medium">
            Bulk result{" "}
            <button className="underline" onClick={() => setOutcomes(null)}>
              close
            </button>
          </div>
          <ul>
            {outcomes.map((o) => (
              <li key={o.userId} className={o.ok ? "text-emerald-700 dark:text-emerald-300" : "text-red-700 dark:text-red-300"}>
                {o.ok ? "✓" : "✗"} {o.email ?? o.userId}: {o.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      <ul className={`${card} divide-y divide-gray-100 dark:divide-gray-800`} data-testid="admin-users">
        {users.data?.map((u) => (
          <li key={u.id} className="p-3">
            <div className="flex flex-wrap items-center gap-2">
              <input type="checkbox" checked={selected.has(u.id)} onChange={() => toggle(u.id)} aria-label={`Select ${u.email}`} />
              <span className="min-w-0 flex-1 truncate font-medium">{u.email}</span>
              {u.disabled && <span className="rounded bg-gray-200 px-1.5 text-xs dark:bg-gray-700">disabled</span>}
              <select
                value={u.role}
                onChange={(e) => setRole.mutate({ userId: u.id, role: e.target.value as "USER" | "ADMIN" })}
                className={field}
                aria-label={`Role of ${u.email}`}
              >
                <option value="USER">user</option>
                <option value="ADMIN">admin</option>
              </select>
            </div>
            <div className="mt-1 flex flex-wrap items-center gap-x-3 gap-y-1 text-xs text-gray-500 dark:text-gray-400">
              <span>
                {u.vms} VM(s), {u.runningVms} running
              </span>
              <span>balance {u.balance.toFixed(2)}</span>
              <span>{u.sessions} session(s)</span>
              <span>last sign-in {u.lastSignInAt ? <When value={u.lastSignInAt} /> : "never"}</span>
              <span className="flex flex-1 justify-end gap-2">
                {u.disabled ? (
                  <button className={btn} onClick={() => setDisabled.mutate({ userId: u.id, disabled: false })}>
                    Enable
                  </button>
                ) : (
                  <button className={btn} disabled={u.id === selfId} onClick={() => disable(u)}>
                    Disable
                  </button>
                )}
                <button className={btn} onClick={() => setOpen(open === u.id ? null : u.id)}>
                  {open === u.id ? "Close" : "Credits & quota"}
                </button>
                <button className={btnDanger} disabled={u.id === selfId} onClick={() => remove(u)}>
                  Delete
                </button>
              </span>
            </div>
            {open === u.id && <UserAccount userId={u.id} onError={setMessage} />}
          </li>
        ))}
      </ul>
    </div>
  );
}

const QUOTA_FIELDS = [
  ["maxVms", "VMs"],
  ["maxCpus", "vCPUs"],
  ["maxRamMb", "RAM MB"],
  ["maxDiskGb", "Disk GB"],
  ["maxRunning", "Running"],
] as const;

/**
 * One key per grant meant: a retry of the request sends the same key and grants nothing more.
 * (getRandomValues, unlike randomUUID, also works on a page served over plain http.)
 */
function newIdempotencyKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function UserAccount({ userId, onError }: { userId: string; onError: (m: string) => void }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const detail = useQuery(trpc.admin.user.queryOptions({ userId }));
  const opts = { onSuccess: () => void qc.invalidateQueries({ queryKey: trpc.admin.pathKey() }), onError: (e: { message: string }) => onError(e.message) };
  const grant = useMutation(trpc.admin.grantCredits.mutationOptions(opts));
  const setQuota = useMutation(trpc.admin.setQuota.mutationOptions(opts));
  if (!detail.data) return <p className="mt-2 text-sm text-gray-500">Loading…</p>;
  const { balance, ledger, quota } = detail.data;
  return (
    <div className="mt-3 grid gap-4 md:grid-cols-2">
      <form
        className="space-y-2"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          grant.mutate({ userId, amount: Number(f.get("amount")), reason: String(f.get("reason")), idempotencyKey: newIdempotencyKey() });
          e.currentTarget.reset();
        }}
      >
        <h3 className="text-sm font-medium">Credits: {balance.toFixed(2)}</h3>
        <div className="flex flex-wrap gap-2">
          <input name="amount" type="number" step="0.01" required placeholder="+50 or -10" className={`${field} w-28`} aria-label="Amount" />
          <input name="reason" required placeholder="Reason" className={`${field} min-w-0 flex-1`} aria-label="Reason" />
          <button className={btn} disabled={grant.isPending}>
            Apply
          </button>
        </div>
        <ul className="max-h-40 overflow-auto text-xs">
          {ledger.map((l) => (
            <li key={l.id} className="flex justify-between gap-2 border-t border-gray-100 py-0.5 dark:border-gray-800">
              <span className="truncate">
                <When value={l.createdAt} /> {l.kind.toLowerCase()} — {l.reason}
              </span>
              <span className={l.amount < 0 ? "text-red-600" : "text-emerald-600"}>{l.amount.toFixed(2)}</span>
            </li>
          ))}
        </ul>
      </form>
      <form
        className="space-y-2"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          const value = (k: string) => (String(f.get(k) ?? "").trim() === "" ? null : Number(f.get(k)));
          setQuota.mutate({ userId, ...Object.fromEntries(QUOTA_FIELDS.map(([k]) => [k, value(k)])) });
        }}
      >
        <h3 className="text-sm font-medium">Quota overrides (empty = default)</h3>
        <div className="grid grid-cols-2 gap-2 sm:grid-cols-5">
          {QUOTA_FIELDS.map(([k, label]) => (
            <label key={k} className="text-xs">
              {label}{" "}
              <span className="text-gray-500">
                (uses {quota.usage[k === "maxVms" ? "vms" : k === "maxCpus" ? "cpus" : k === "maxRamMb" ? "ramMb" : k === "maxDiskGb" ? "diskGb" : "running"]})
              </span>
              <input
                name={k}
                type="number"
                min={0}
                defaultValue={quota.overrides?.[k] ?? ""}
                placeholder={String(quota.defaults[k])}
                className={`${field} w-full`}
              />
            </label>
          ))}
        </div>
        <button className={btn} disabled={setQuota.isPending}>
          Save quota
        </button>
      </form>
    </div>
  );
}
