"use client";
// The health view, refreshed every few seconds.
import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "~/server/api/root";
import { useTRPC } from "~/trpc/react";
import { formatValue } from "~/server/metrics/format";
import { When } from "~/components/shell/when";
import { card } from "./admin-nav";

type Health = inferRouterOutputs<AppRouter>["admin"]["health"];

// Bytes in the same unit and format as /monitor (formatValue: GiB); ages never below zero (the two clocks read a few ms apart).
const mb = (b: number | null | undefined) => (b === null || b === undefined ? "?" : formatValue("bytes", b));
const msText = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const ago = (ms: number) => (ms < 1000 ? "just now" : `${(ms / 1000).toFixed(1)} s ago`);

function Tile({ title, ok, children }: { title: string; ok: boolean | null; children: ReactNode }) {
  const dot = ok === null ? "bg-gray-400" : ok ? "bg-emerald-500" : "bg-red-500";
  return (
    <div className={`${card} p-3`} data-testid="health-tile">
      <h2 className="flex items-center gap-2 text-sm font-medium">
        <span className={`h-2 w-2 rounded-full ${dot}`} aria-label={ok === null ? "unknown" : ok ? "ok" : "problem"} />
        {title}
      </h2>
      <div className="mt-1 space-y-0.5 text-sm text-gray-700 dark:text-gray-300">{children}</div>
    </div>
  );
}

export function HealthPanel({ initial }: { initial: Health }) {
  const trpc = useTRPC();
  const { data: h = initial } = useQuery(trpc.admin.health.queryOptions(undefined, { initialData: initial, refetchInterval: 5000 }));
  const samplerLagOk = h.sampler ? h.sampler.running && (h.sampler.lagMs ?? Infinity) < h.sampler.intervalMs * 3 : null;
  const diskFree = h.vmRoot.free !== null && h.vmRoot.total ? h.vmRoot.free / h.vmRoot.total : null;
  return (
    <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3">
      <Tile title="Database" ok={h.database.reachable}>
        <p>{h.database.reachable ? `reachable (${h.database.latencyMs} ms)` : `unreachable: ${h.database.error}`}</p>
        <p>size {mb(h.database.bytes)}</p>
      </Tile>
      <Tile title="Migrations" ok={h.migrations.pending ? h.migrations.pending.length === 0 : false}>
        <p>
          {h.migrations.pending
            ? h.migrations.pending.length === 0
              ? "all applied"
              : `pending: ${h.migrations.pending.join(", ")}`
            : `cannot tell: ${h.migrations.error}`}
        </p>
      </Tile>
      <Tile title="Sampler" ok={samplerLagOk}>
        {h.sampler ? (
          <>
            <p data-testid="sampler-last-tick">
              last tick {h.sampler.lastTickAt ? <When value={h.sampler.lastTickAt} style="time" /> : "never"}
              {h.sampler.lagMs !== null && ` (${ago(Math.max(0, h.sampler.lagMs))})`}
            </p>
            <p data-testid="sampler-p95">
              every {h.sampler.intervalMs / 1000} s · p95 {h.sampler.tickMsP95 === null ? "?" : msText(h.sampler.tickMsP95)} ms · {h.sampler.skippedTicks}{" "}
              skipped
            </p>
          </>
        ) : (
          <p>not running in this process</p>
        )}
      </Tile>
      <Tile title="Hypervisor" ok={h.host.ready}>
        <p>{h.host.message}</p>
        {h.host.driver && (
          <p>
            driver in use: {h.host.driver.driver} ({h.host.driver.source === "setting" ? "from VM_DRIVER" : "detected"})
          </p>
        )}
        {h.host.checks.map((c) => (
          <p key={c.component} className={c.ok ? "" : "text-red-700 dark:text-red-300"}>
            {c.component}: {c.version ?? c.detail}
          </p>
        ))}
      </Tile>
      <Tile title="VM storage" ok={diskFree === null ? null : diskFree > 0.1}>
        <p className="break-all font-mono text-xs">{h.vmRoot.path}</p>
        <p>{h.vmRoot.error ? h.vmRoot.error : `${mb(h.vmRoot.free)} free of ${mb(h.vmRoot.total)}`}</p>
      </Tile>
      <Tile title="Alerts" ok={h.openAlerts === null ? null : h.openAlerts === 0}>
        <p>{h.openAlerts === null ? "unknown" : `${h.openAlerts} open`}</p>
      </Tile>
      <Tile title="sshd log" ok={h.sshdLog.following ? h.sshdLog.state !== null : null}>
        <p className="break-all font-mono text-xs">{h.sshdLog.path}</p>
        <p>
          {!h.sshdLog.following
            ? "not followed (SSHD_LOG_FOLLOW=false)"
            : h.sshdLog.state
              ? `at byte ${h.sshdLog.state.offset}, ${h.sshdLog.state.unparseable} unparseable line(s)`
              : "not read yet"}
        </p>
      </Tile>
      <Tile title="VM networks" ok={h.networkPool.free === null ? null : h.networkPool.free > 0}>
        <p className="font-mono text-xs">{h.networkPool.pool}</p>
        <p data-testid="network-pool">
          {h.networkPool.error ?? `${h.networkPool.used} of ${h.networkPool.size} owner networks used, ${h.networkPool.free} free`}
        </p>
        {!!h.networkPool.sharedNetworkVms && <p>{h.networkPool.sharedNetworkVms} older VM(s) still on the shared network until recreated</p>}
      </Tile>
      <Tile title="SSH forwarding" ok={h.sshPorts.error ? false : h.sshPorts.range === null ? null : (h.sshPorts.free ?? 0) > 0}>
        <p data-testid="ssh-ports">
          {h.sshPorts.error ??
            (h.sshPorts.range === null
              ? "off (VM_SSH_PORT_RANGE=off)"
              : `ports ${h.sshPorts.range}: ${h.sshPorts.used} of ${h.sshPorts.size} held by VMs, ${h.sshPorts.free} free`)}
        </p>
      </Tile>
      <Tile title="App" ok={null}>
        <p>version {h.version}</p>
      </Tile>
    </div>
  );
}
