import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { TRPCError } from "@trpc/server";
import { requireActor } from "~/server/auth/guard";
import { api } from "~/trpc/server";
import { EventDetails } from "~/components/events/event-details";

export const metadata: Metadata = { title: "Event" };

export default async function EventPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  await requireActor(`/events/${id}`);
  const event = await (await api()).events.get({ id }).catch((err: unknown) => {
    if (err instanceof TRPCError && err.code === "NOT_FOUND") notFound();
    throw err;
  });
  return (
    <div className="space-y-4">
      <Link href="/events" className="text-sm text-blue-700 hover:underline dark:text-blue-300">
        ← All events
      </Link>
      <div className="rounded-lg border border-gray-200 bg-white p-4 dark:border-gray-800 dark:bg-gray-900">
        <EventDetails event={event} />
      </div>
    </div>
  );
}
