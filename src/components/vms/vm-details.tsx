"use client";
// The VM page body: facts, SSH command and key status, uptime, live job output and history.
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { When } from "~/components/shell/when";
import { useEffect, useState } from "react";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "~/server/api/root";
import { useTRPC } from "~/trpc/react";
import { JobOutput } from "./job-output";
import { formatCredits, formatDuration, VmStateBadge } from "./state-badge";
import { VmActions } from "./vm-actions";
import { CancelJobButton, QueuePlace } from "./queue-place";

type Vm = inferRouterOutputs<AppRouter>["vms"]["get"];

/** A line of code to paste elsewhere, with a button that copies it. */
function CopyableCode({ text, testId }: { text: string; testId: string }) {
  const [copied, setCopied] = useState(false);
  const button = (
    <button
      type="button"
      className="shrink-0 rounded border border-gray-300 px-2 py-1 text-xs hover:bg-gray-100 dark:border-gray-700 dark:hover:bg-gray-800"
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(() => {
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        });
      }}
    >
      {copied ? "Copied" : "Copy"}
    </button>
  );
  return (
    <div className="flex items-start gap-2">
      <code className="min-w-0 flex-1 break-all font-mono text-xs" data-testid={testId}>
        {text}
      </code>
      {button}
    </div>
  );
}

function Uptime({ seconds, fetchedAt }: { seconds: number; fetchedAt: number }) {
  const [now, setNow] = useState(fetchedAt);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return <>{formatDuration(seconds + Math.max(0, Math.floor((now - fetchedAt) / 1000)))}</>;
}

/** How to get in from one's own computer, and whether the VM's keys are its own yet. */
function SshAccess({ vm }: { vm: Vm }) {
  const firstBootPending = vm.state === "PENDING" || vm.state === "CREATING";
  return (
    <section className="space-y-2 rounded-lg border border-gray-200 bg-white p-3 text-sm dark:border-gray-800 dark:bg-gray-900" data-testid="vm-ssh">
      <h2 className="text-xs uppercase text-gray-500 dark:text-gray-400">SSH from your computer</h2>
      {vm.sshCommand ? (
        <CopyableCode text={vm.sshCommand} testId="ssh-command" />
      ) : (
        <p className="text-gray-600 dark:text-gray-400">The command appears here while the VM runs.</p>
      )}
      {vm.sshCommand && !vm.sshForwarded && (
        <p className="text-amber-800 dark:text-amber-200" data-testid="ssh-not-forwarded">
          {vm.sshForwardingEnabled
            ? "No forwarded port was free for this VM, so this is its address on the VM network"
            : "Port forwarding is off on this host, so this is the VM's address on the VM network"}
          : your computer needs another way to reach that network (a VPN or a jump host, for example).
        </p>
      )}
      <p data-testid="vm-keys-status">
        {vm.keysSyncedAt ? (
          <>
            Own key: yes. Keys last written into the VM <When value={vm.keysSyncedAt} />.
          </>
        ) : firstBootPending ? (
          "Own key: set up when the VM first boots."
        ) : (
          "Own key: not yet. The VM still accepts Vagrant's shared key until it is moved to its own key on its next start."
        )}
      </p>
      <p className="text-gray-600 dark:text-gray-400">
        Keys you add reach running VMs within a minute, stopped VMs on their next start.{" "}
        <Link href="/settings/keys" className="text-blue-700 underline dark:text-blue-300">
          Your SSH keys
        </Link>
      </p>
    </section>
  );
}

export function VmDetails({ initial }: { initial: Vm }) {
  const trpc = useTRPC();
  const query = useQuery(
    // Idle: every 5 s, one sampler tick, so a VM that stops on its own shows within ~15 s.
    trpc.vms.get.queryOptions({ id: initial.id }, { initialData: initial, refetchInterval: (q) => (q.state.data?.activeJob ? 1500 : 5_000) }),
  );
  const vm = query.data;
  const [selectedJob, setSelectedJob] = useState<string | null>(null);
  const shownJob = selectedJob ?? vm.activeJob?.id ?? vm.jobs[0]?.id ?? null;

  const fact = (label: string, value: React.ReactNode) => (
    <div className="min-w-0">
      <dt className="text-xs uppercase text-gray-500 dark:text-gray-400">{label}</dt>
      <dd className="break-words">{value}</dd>
    </div>
  );

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="font-mono text-xl font-semibold" data-testid="vm-name">
          {vm.name}
        </h1>
        <VmStateBadge state={vm.state} />
      </div>
      {vm.state === "ERROR" && vm.error && (
        <div role="alert" className="rounded border border-red-300 bg-red-50 p-3 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200">
          <p className="font-medium" data-testid="vm-error">
            {vm.error}
          </p>
          {vm.errorOutput && <pre className="mt-2 max-h-48 overflow-auto whitespace-pre-wrap font-mono text-xs">{vm.errorOutput}</pre>}
        </div>
      )}
      <VmActions vm={vm} />
      {vm.activeJob && (
        <div className="space-y-2">
          {vm.activeJob.state === "QUEUED" && <QueuePlace vmId={vm.id} kind={vm.activeJob.kind} />}
          <CancelJobButton key={vm.activeJob.id} job={vm.activeJob} vmName={vm.name} />
        </div>
      )}
      <dl className="grid grid-cols-2 gap-3 rounded-lg border border-gray-200 bg-white p-3 text-sm sm:grid-cols-4 dark:border-gray-800 dark:bg-gray-900">
        {fact("IP address", <span className="font-mono">{vm.ipAddress ?? "—"}</span>)}
        {fact("Uptime", vm.uptimeSeconds !== null ? <Uptime seconds={vm.uptimeSeconds} fetchedAt={query.dataUpdatedAt} /> : "—")}
        {fact("Spec", `${vm.cpus} vCPU · ${vm.ramMb} MB · ${vm.diskGb} GB`)}
        {fact("Cost", `${formatCredits(vm.hourlyCost)} credits/h`)}
        {fact("Box", `${vm.box.displayName} (${vm.box.name})`)}
        {fact("Owner", vm.owner.email)}
        {fact("Driver", vm.driver)}
        {fact("Created", <When value={vm.createdAt} />)}
      </dl>
      {vm.state !== "DESTROYED" && <SshAccess vm={vm} />}
      {shownJob && (
        <section className="rounded-lg border border-gray-200 bg-white p-3 dark:border-gray-800 dark:bg-gray-900">
          <h2 className="mb-2 font-medium">{vm.activeJob && shownJob === vm.activeJob.id ? "Operation in progress" : "Job output"}</h2>
          <JobOutput key={shownJob} jobId={shownJob} />
        </section>
      )}
      <section>
        <h2 className="mb-2 font-medium">History</h2>
        <ul
          className="divide-y divide-gray-100 rounded-lg border border-gray-200 bg-white text-sm dark:divide-gray-800 dark:border-gray-800 dark:bg-gray-900"
          data-testid="job-history"
        >
          {vm.jobs.map((j) => (
            <li key={j.id}>
              <button
                type="button"
                onClick={() => setSelectedJob(j.id)}
                className={`flex w-full flex-wrap items-center gap-x-3 gap-y-1 px-3 py-2 text-left hover:bg-gray-50 dark:hover:bg-gray-800 ${
                  j.id === shownJob ? "bg-blue-50 dark:bg-blue-950/40" : ""
                }`}
              >
                <span className="w-16 font-medium">{j.kind.toLowerCase()}</span>
                <span
                  className={
                    j.state === "SUCCEEDED"
                      ? "text-emerald-700 dark:text-emerald-300"
                      : j.state === "QUEUED" || j.state === "RUNNING"
                        ? "text-blue-700 dark:text-blue-300"
                        : j.state === "CANCELLED"
                          ? "text-gray-600 dark:text-gray-300"
                          : "text-red-700 dark:text-red-300"
                  }
                >
                  {j.state.toLowerCase().replace("_", " ")}
                </span>
                <When value={j.createdAt} className="text-gray-500 dark:text-gray-400" />
                <span className="text-gray-500 dark:text-gray-400">by {j.requestedByEmail ?? "system"}</span>
              </button>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
