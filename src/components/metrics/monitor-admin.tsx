"use client";
// Admin tools for monitoring: collect now, retention now, sampler health,
// alert rules (with their notification channels, webhook and ntfy, and the
// signing secret, shown once) and recent deliveries.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent, type ReactNode } from "react";
import { useTRPC } from "~/trpc/react";
import { METRIC_NAMES, METRICS, type MetricName } from "~/server/metrics/catalog";
import { formatMetric, formatValue } from "~/server/metrics/format";
import { When } from "~/components/shell/when";

const card = "rounded-lg border border-gray-200 bg-white p-3 dark:border-gray-800 dark:bg-gray-900";
const button = "rounded bg-blue-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-blue-700 disabled:opacity-50";
const input = "w-full rounded border border-gray-300 bg-white px-2 py-1 text-sm dark:border-gray-700 dark:bg-gray-950";
const ms = (v: number | null | undefined) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} ms`);
const when = (t: number | null | undefined) => (t ? <When value={t} /> : "never");

function Health() {
  const trpc = useTRPC();
  const { data } = useQuery(trpc.metrics.health.queryOptions(undefined, { refetchInterval: 10_000 }));
  if (!data) return <div className={card}>Loading sampler health…</div>;
  const s = data.sampler;
  const rows: [string, ReactNode][] = [
    ["Sampler", s ? (s.running ? `running every ${s.intervalMs / 1000} s` : "stopped") : "not running in this process"],
    ["Last tick", when(s?.lastTickAt)],
    ["Tick duration p50 / p95", `${ms(s?.tickMsP50)} / ${ms(s?.tickMsP95)}`],
    ["Ticks / skipped", s ? `${s.ticks} / ${s.skippedTicks}` : "–"],
    [
      "Errors by collector",
      s && Object.keys(s.errorsByCollector).length
        ? Object.entries(s.errorsByCollector)
            .map(([k, n]) => `${k}: ${n}`)
            .join(", ")
        : "none",
    ],
    [
      "Last retention",
      s?.lastRetention ? (
        <>
          {when(s.lastRetentionAt)} (deleted raw {s.lastRetention.deleted.raw}, minute {s.lastRetention.deleted.minute}, hour {s.lastRetention.deleted.hour})
        </>
      ) : (
        "not yet"
      ),
    ],
    ["Database size", formatValue("bytes", data.databaseBytes)],
    ["Rows raw / minute / hour", `${data.rowsByTier.raw} / ${data.rowsByTier.minute} / ${data.rowsByTier.hour}`],
  ];
  return (
    <div className={card} data-testid="sampler-health">
      <h3 className="mb-2 font-medium">Sampler health</h3>
      <dl className="grid grid-cols-1 gap-x-4 gap-y-1 text-sm sm:grid-cols-[max-content_1fr]">
        {rows.map(([k, v]) => (
          <div key={k} className="contents">
            <dt className="text-gray-500 dark:text-gray-400">{k}</dt>
            <dd className="break-words tabular-nums">{v}</dd>
          </div>
        ))}
      </dl>
      {s &&
        Object.entries(s.lastErrors).map(([k, e]) => (
          <p key={k} className="mt-1 break-words text-xs text-red-700 dark:text-red-400">
            {k}: {e.message} ({when(e.at)})
          </p>
        ))}
    </div>
  );
}

function Actions() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const collect = useMutation(trpc.metrics.collectNow.mutationOptions({ onSuccess: () => qc.invalidateQueries() }));
  const retention = useMutation(trpc.metrics.retentionNow.mutationOptions({ onSuccess: () => qc.invalidateQueries() }));
  return (
    <div className={card}>
      <div className="flex flex-wrap gap-2">
        <button className={button} disabled={collect.isPending} onClick={() => collect.mutate()} data-testid="collect-now">
          {collect.isPending ? "Collecting…" : "Collect now"}
        </button>
        <button className={button} disabled={retention.isPending} onClick={() => retention.mutate()} data-testid="retention-now">
          {retention.isPending ? "Cleaning…" : "Retention clean-up now"}
        </button>
      </div>
      {collect.error && <p className="mt-2 text-sm text-red-600">{collect.error.message}</p>}
      {retention.error && <p className="mt-2 text-sm text-red-600">{retention.error.message}</p>}
      {retention.data && (
        <p className="mt-2 text-sm" data-testid="retention-result">
          Deleted raw {retention.data.deleted.raw}, minute {retention.data.deleted.minute}, hour {retention.data.deleted.hour} rows.
        </p>
      )}
      {collect.data && (
        <div className="mt-2 overflow-x-auto" data-testid="collect-result">
          <p className="text-sm">
            Tick at <When value={collect.data.ts} style="time" /> took {collect.data.durationMs.toFixed(1)} ms, wrote {collect.data.written} rows
            {Object.keys(collect.data.errors).length > 0 && (
              <span className="text-red-600">
                {" "}
                · errors:{" "}
                {Object.entries(collect.data.errors)
                  .map(([k, v]) => `${k}: ${v}`)
                  .join("; ")}
              </span>
            )}
          </p>
          <table className="mt-1 w-full text-xs">
            <tbody>
              {collect.data.readings.map((r) => (
                <tr key={r.source} className="border-t border-gray-100 align-top dark:border-gray-800">
                  <td className="py-1 pr-2 font-mono">{r.source}</td>
                  <td className="py-1 text-gray-600 dark:text-gray-300">
                    {(Object.entries(r.values) as [MetricName, number | null][])
                      .filter(([, v]) => v !== null)
                      .map(([m, v]) => `${METRICS[m].label} ${formatMetric(m, v)}`)
                      .join(" · ")}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

type RuleForm = {
  id?: string;
  name: string;
  metric: string;
  comparison: "gte" | "lte";
  threshold: number;
  clearThreshold: number;
  durationS: number;
  scope: "host" | "vms";
  severity: "WARNING" | "CRITICAL";
  enabled: boolean;
  webhookUrl: string | null;
  ntfyUrl: string | null;
  /** Whether the rule has an ntfy access token (the server never sends the token back). */
  hasNtfyToken?: boolean;
};
const EMPTY: RuleForm = {
  name: "",
  metric: "cpuPct",
  comparison: "gte",
  threshold: 90,
  clearThreshold: 80,
  durationS: 60,
  scope: "host",
  severity: "WARNING",
  enabled: true,
  webhookUrl: null,
  ntfyUrl: null,
};

/** A webhook signing secret, just made: the only time the server hands it out. */
function SecretOnce({ name, secret, onDismiss }: { name: string; secret: string; onDismiss: () => void }) {
  return (
    <div className="mb-2 rounded border border-amber-400 bg-amber-50 p-2 text-sm dark:bg-amber-950" role="alert">
      <p>
        Signing secret for the notifications (webhook, ntfy) of <strong>{name}</strong>. Copy it into your receiver now: it is not shown again (rotate it for a
        new one). See docs/webhooks.md.
      </p>
      <code className="mt-1 block break-all rounded bg-white px-2 py-1 font-mono text-xs dark:bg-gray-900" data-testid="webhook-secret">
        {secret}
      </code>
      <button type="button" className="mt-1 text-blue-600 hover:underline" onClick={onDismiss}>
        I have copied it
      </button>
    </div>
  );
}

type ShownSecret = { name: string; secret: string };

function RuleEditor({ initial, onDone, onSecret }: { initial: RuleForm; onDone: () => void; onSecret: (s: ShownSecret) => void }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [f, setF] = useState<RuleForm>(initial);
  // The ntfy token is write-only: typed to set or replace it, or removed; left empty, the rule keeps the one it has.
  const [ntfyToken, setNtfyToken] = useState("");
  const [removeToken, setRemoveToken] = useState(false);
  const done = {
    onSuccess: (rule: { name: string; webhookSecret?: string }) => {
      if (rule.webhookSecret) onSecret({ name: rule.name, secret: rule.webhookSecret });
      void qc.invalidateQueries({ queryKey: trpc.metrics.rules.queryKey() });
      onDone();
    },
  };
  const create = useMutation(trpc.metrics.createRule.mutationOptions(done));
  const update = useMutation(trpc.metrics.updateRule.mutationOptions(done));
  const error = create.error ?? update.error;
  const set = <K extends keyof RuleForm>(k: K, v: RuleForm[K]) => setF((p) => ({ ...p, [k]: v }));
  const metrics = METRIC_NAMES.filter((m) => (METRICS[m].kinds as readonly string[]).includes(f.scope === "host" ? "host" : "vm"));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const { id, hasNtfyToken: _has, ...fields } = f;
    const rule = { ...fields, ntfyToken: ntfyToken.trim() ? ntfyToken.trim() : removeToken ? null : undefined };
    if (id) update.mutate({ id, ...rule });
    else create.mutate(rule);
  };
  return (
    <form onSubmit={submit} className="grid grid-cols-2 gap-2 text-sm sm:grid-cols-4" data-testid="rule-editor">
      <label className="col-span-2">
        Name
        <input className={input} value={f.name} onChange={(e) => set("name", e.target.value)} required maxLength={100} />
      </label>
      <label>
        Scope
        <select className={input} value={f.scope} onChange={(e) => set("scope", e.target.value as RuleForm["scope"])}>
          <option value="host">host</option>
          <option value="vms">every VM</option>
        </select>
      </label>
      <label>
        Metric
        <select className={input} value={f.metric} onChange={(e) => set("metric", e.target.value)}>
          {metrics.map((m) => (
            <option key={m} value={m}>
              {METRICS[m].label}
            </option>
          ))}
        </select>
      </label>
      <label>
        When
        <select className={input} value={f.comparison} onChange={(e) => set("comparison", e.target.value as RuleForm["comparison"])}>
          <option value="gte">≥ threshold</option>
          <option value="lte">≤ threshold</option>
        </select>
      </label>
      <label>
        Threshold
        <input className={input} type="number" step="any" value={f.threshold} onChange={(e) => set("threshold", Number(e.target.value))} />
      </label>
      <label>
        Clears at
        <input className={input} type="number" step="any" value={f.clearThreshold} onChange={(e) => set("clearThreshold", Number(e.target.value))} />
      </label>
      <label>
        Held for (s)
        <input className={input} type="number" min={0} max={86400} value={f.durationS} onChange={(e) => set("durationS", Number(e.target.value))} />
      </label>
      <label>
        Severity
        <select className={input} value={f.severity} onChange={(e) => set("severity", e.target.value as RuleForm["severity"])}>
          <option>WARNING</option>
          <option>CRITICAL</option>
        </select>
      </label>
      <label className="col-span-2 sm:col-span-3">
        Webhook URL (optional)
        <input className={input} type="url" value={f.webhookUrl ?? ""} onChange={(e) => set("webhookUrl", e.target.value || null)} placeholder="https://…" />
      </label>
      <label className="col-span-2">
        ntfy topic URL (optional: push to phones)
        <input
          className={input}
          type="url"
          value={f.ntfyUrl ?? ""}
          onChange={(e) => set("ntfyUrl", e.target.value || null)}
          placeholder="https://ntfy.sh/your-secret-topic"
          data-testid="ntfy-url"
        />
      </label>
      <label className="col-span-2">
        ntfy access token (protected topics)
        <input
          className={input}
          type="password"
          autoComplete="off"
          value={ntfyToken}
          onChange={(e) => setNtfyToken(e.target.value)}
          placeholder={f.hasNtfyToken ? "set (leave empty to keep it)" : "tk_…"}
          maxLength={200}
          data-testid="ntfy-token"
        />
        {f.hasNtfyToken && (
          <span className="mt-1 flex items-center gap-1 text-xs">
            <input type="checkbox" checked={removeToken} onChange={(e) => setRemoveToken(e.target.checked)} />
            remove the token
          </span>
        )}
      </label>
      <label className="flex items-center gap-2 self-end">
        <input type="checkbox" checked={f.enabled} onChange={(e) => set("enabled", e.target.checked)} />
        enabled
      </label>
      <div className="col-span-2 flex items-center gap-2 sm:col-span-4">
        <button className={button} type="submit" disabled={create.isPending || update.isPending}>
          {f.id ? "Save rule" : "Add rule"}
        </button>
        <button type="button" className="text-sm text-gray-600 dark:text-gray-300" onClick={onDone}>
          Cancel
        </button>
        {error && <span className="text-red-600">{error.message}</span>}
      </div>
    </form>
  );
}

function Rules() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const { data: rules } = useQuery(trpc.metrics.rules.queryOptions());
  const remove = useMutation(trpc.metrics.deleteRule.mutationOptions({ onSuccess: () => qc.invalidateQueries({ queryKey: trpc.metrics.rules.queryKey() }) }));
  const [editing, setEditing] = useState<RuleForm | null>(null);
  const [shown, setShown] = useState<ShownSecret | null>(null);
  const rotate = useMutation(
    trpc.metrics.rotateWebhookSecret.mutationOptions({
      onSuccess: (r) => {
        setShown({ name: rules?.find((x) => x.id === r.id)?.name ?? "this rule", secret: r.webhookSecret });
        void qc.invalidateQueries({ queryKey: trpc.metrics.rules.queryKey() });
      },
    }),
  );
  return (
    <div className={card} data-testid="alert-rules">
      <div className="mb-2 flex items-center justify-between">
        <h3 className="font-medium">Alert rules</h3>
        {!editing && (
          <button className={button} onClick={() => setEditing(EMPTY)}>
            New rule
          </button>
        )}
      </div>
      {shown && <SecretOnce {...shown} onDismiss={() => setShown(null)} />}
      {editing && <RuleEditor key={editing.id ?? "new"} initial={editing} onDone={() => setEditing(null)} onSecret={setShown} />}
      {remove.error && <p className="text-sm text-red-600">{remove.error.message}</p>}
      {rotate.error && <p className="text-sm text-red-600">{rotate.error.message}</p>}
      <ul className="mt-2 divide-y divide-gray-100 dark:divide-gray-800">
        {rules?.map((r) => (
          <li key={r.id} className="flex flex-wrap items-center gap-x-3 gap-y-1 py-2 text-sm">
            <span className={`font-medium ${r.enabled ? "" : "text-gray-400 line-through"}`}>{r.name}</span>
            <span className="text-gray-600 dark:text-gray-300">
              {r.scope === "host" ? "host" : "each VM"}: {METRICS[r.metric as MetricName]?.label ?? r.metric} {r.comparison === "gte" ? "≥" : "≤"}{" "}
              {formatMetric(r.metric as MetricName, r.threshold)} for {r.durationS} s, clears at {formatMetric(r.metric as MetricName, r.clearThreshold)} ·{" "}
              {r.severity.toLowerCase()}
              {r.webhookUrl && " · webhook"}
              {r.ntfyUrl && ` · ntfy${r.hasNtfyToken ? " (token)" : ""}`}
            </span>
            <span className="ml-auto flex gap-2">
              <button
                className="text-blue-600 hover:underline"
                onClick={() =>
                  setEditing({
                    ...r,
                    comparison: r.comparison as RuleForm["comparison"],
                    scope: r.scope as RuleForm["scope"],
                    severity: r.severity === "CRITICAL" ? "CRITICAL" : "WARNING",
                  })
                }
              >
                Edit
              </button>
              {(r.webhookUrl || r.ntfyUrl) && (
                <button
                  className="text-blue-600 hover:underline disabled:opacity-50"
                  disabled={rotate.isPending}
                  onClick={() => {
                    if (window.confirm(`Rotate the signing secret of "${r.name}"? Deliveries are signed with the new one at once; update your receiver.`))
                      rotate.mutate({ id: r.id });
                  }}
                >
                  Rotate secret
                </button>
              )}
              {!r.builtinKey && (
                <button className="text-red-600 hover:underline" onClick={() => remove.mutate({ id: r.id })}>
                  Delete
                </button>
              )}
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

function Deliveries() {
  const trpc = useTRPC();
  const { data } = useQuery(trpc.metrics.webhookDeliveries.queryOptions(undefined, { refetchInterval: 15_000 }));
  if (!data?.length) return null;
  return (
    <div className={card}>
      <h3 className="mb-2 font-medium">Recent notification deliveries</h3>
      <ul className="space-y-1 text-xs">
        {data.map((d) => (
          <li key={d.id} className="break-words">
            <span
              className={d.status === "delivered" ? "text-emerald-700 dark:text-emerald-400" : d.status === "failed" ? "text-red-700 dark:text-red-400" : ""}
            >
              {d.status}
            </span>{" "}
            · {d.channel} · {d.event} · {d.url} · {d.attempts} attempt(s){d.lastStatus ? ` · HTTP ${d.lastStatus}` : ""}
            {d.lastError ? ` · ${d.lastError}` : ""} · <When value={d.createdAt} />
            {d.status === "pending" && (
              <>
                {" "}
                · next try <When value={d.nextAttemptAt} />
              </>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function MonitorAdmin() {
  return (
    <div className="space-y-3">
      <Actions />
      <Health />
      <Rules />
      <Deliveries />
    </div>
  );
}
