import type { Metadata } from "next";
import Link from "next/link";
import type { ReactNode } from "react";
import { requireActor } from "~/server/auth/guard";
import { formatMetric } from "~/server/metrics/format";
import { api } from "~/trpc/server";
import { VmStateBadge, formatCredits } from "~/components/vms/state-badge";
import { SeverityBadge } from "~/components/events/severity-badge";
import { HostNow } from "~/components/metrics/host-now";
import { When } from "~/components/shell/when";
import { vmCountWords, vmQuotaWords } from "~/components/vms/vm-counts";

export const metadata: Metadata = { title: "Dashboard" };
export const dynamic = "force-dynamic";

function Card({ title, href, children }: { title: string; href: string; children: ReactNode }) {
  return (
    <section className="min-w-0 rounded-lg border border-gray-200 bg-white p-4 dark:border-gray-800 dark:bg-gray-900">
      <div className="flex items-baseline justify-between">
        <h2 className="font-medium">{title}</h2>
        <Link href={href} aria-label={`Open ${title}`} className="text-sm text-blue-600 hover:underline dark:text-blue-400">
          Open
        </Link>
      </div>
      <div className="mt-3">{children}</div>
    </section>
  );
}

export default async function DashboardPage() {
  const actor = await requireActor();
  const trpc = await api();
  const [account, vms, now, events] = await Promise.all([trpc.vms.myAccount(), trpc.vms.list(), trpc.metrics.current(), trpc.events.list({ limit: 6 })]);
  const mine = vms.filter((v) => v.ownerEmail === actor.email);
  return (
    <div>
      <h1 className="text-xl font-semibold" data-testid="dashboard-title">
        Dashboard
      </h1>
      <p className="mt-1 text-sm text-gray-600 dark:text-gray-400">Signed in as {actor.email}.</p>

      {now.alerts.length > 0 && (
        <div className="mt-4 rounded-lg border border-red-300 bg-red-50 p-3 text-sm dark:border-red-900 dark:bg-red-950" role="status">
          <strong>
            {now.alerts.length} open alert{now.alerts.length === 1 ? "" : "s"}:
          </strong>{" "}
          {now.alerts.map((a) => `${a.ruleName} (${formatMetric(a.metric as never, a.lastValue)})`).join(", ")}
        </div>
      )}

      {/* grid-cols-1 (minmax(0, 1fr)), not the implicit auto column: a long event message must truncate, not widen the page. */}
      <div className="mt-4 grid grid-cols-1 gap-3 md:grid-cols-2">
        <Card title="Your VMs" href="/vms">
          <p className="text-2xl font-semibold tabular-nums" data-testid="vm-counts">
            {vmCountWords(account.usage)}
          </p>
          <p className="text-sm text-gray-500">
            {vmQuotaWords(account.quota)} · {account.usage.cpus}/{account.quota.maxCpus} vCPUs · {account.usage.ramMb}/{account.quota.maxRamMb} MB RAM
          </p>
          <ul className="mt-2 space-y-1 text-sm">
            {mine.slice(0, 5).map((v) => (
              <li key={v.id} className="flex min-w-0 items-center justify-between gap-2">
                <Link href={`/vms/${v.id}`} className="min-w-0 truncate hover:underline">
                  {v.name}
                </Link>
                <VmStateBadge state={v.state} />
              </li>
            ))}
          </ul>
          <Link href="/vms/new" className="mt-3 inline-block rounded-md bg-blue-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-blue-700">
            Launch a VM
          </Link>
        </Card>

        <Card title="Credits" href="/vms">
          <p className={`text-2xl font-semibold tabular-nums ${account.lowBalance ? "text-red-600 dark:text-red-400" : ""}`} data-testid="dashboard-balance">
            {formatCredits(account.balance)}
          </p>
          <p className="text-sm text-gray-500">
            {account.burnPerHour > 0 ? `Running VMs cost ${formatCredits(account.burnPerHour)} per hour` : "Nothing running, nothing charged."}
            {account.lowBalance && " · Low balance: running VMs stop at zero."}
          </p>
        </Card>

        <Card title="Host now" href="/monitor">
          <HostNow initial={now} />
        </Card>

        <Card title="Recent events" href="/events">
          {events.items.length === 0 ? (
            <p className="text-sm text-gray-500">Nothing yet.</p>
          ) : (
            <ul className="space-y-1.5 text-sm">
              {events.items.map((e) => (
                <li key={e.id} className="flex min-w-0 items-start gap-2">
                  <SeverityBadge severity={e.severity} />
                  <Link href={`/events/${e.id}`} className="min-w-0 flex-1 truncate hover:underline">
                    {e.message}
                  </Link>
                  <When value={e.createdAt} className="shrink-0 text-xs text-gray-500" />
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
    </div>
  );
}
