import type { Metadata } from "next";
import { requireActor } from "~/server/auth/guard";
import { api } from "~/trpc/server";
import { StatusLive } from "~/components/status/status-live";

export const metadata: Metadata = { title: "Status" };

// The installed app's start page on a phone (src/app/manifest.ts): one glance at the host and your VMs.
export default async function StatusPage() {
  await requireActor("/status");
  const trpc = await api();
  return <StatusLive initial={await trpc.metrics.status()} />;
}
