import type { Metadata } from "next";
import Link from "next/link";
import { requireActor } from "~/server/auth/guard";

export const metadata: Metadata = { title: "Dashboard" };

export default async function DashboardPage() {
  const actor = await requireActor();
  return (
    <div>
      <h1 className="text-xl font-semibold" data-testid="dashboard-title">Dashboard</h1>
      <p className="mt-1 text-gray-600 dark:text-gray-400">Signed in as {actor.email}.</p>
      <div className="mt-6 grid gap-3 sm:grid-cols-3">
        <Link href="/vms" className="rounded-lg border border-gray-200 bg-white p-4 hover:border-blue-400 dark:border-gray-800 dark:bg-gray-900">
          <h2 className="font-medium">VMs</h2>
          <p className="text-sm text-gray-500">Launch and manage your virtual machines.</p>
        </Link>
        <Link href="/monitor" className="rounded-lg border border-gray-200 bg-white p-4 hover:border-blue-400 dark:border-gray-800 dark:bg-gray-900">
          <h2 className="font-medium">Monitor</h2>
          <p className="text-sm text-gray-500">The host and every VM, live and over time.</p>
        </Link>
        <Link href="/events" className="rounded-lg border border-gray-200 bg-white p-4 hover:border-blue-400 dark:border-gray-800 dark:bg-gray-900">
          <h2 className="font-medium">Events</h2>
          <p className="text-sm text-gray-500">Who did what, and what looks wrong.</p>
        </Link>
      </div>
    </div>
  );
}
