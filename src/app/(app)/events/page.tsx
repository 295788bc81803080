import type { Metadata } from "next";
import { requireActor } from "~/server/auth/guard";
import { eventFilterFromSearchParams, eventFilterToSearchParams } from "~/server/events/filter";
import { EventFeed } from "~/components/events/event-feed";

export const metadata: Metadata = { title: "Events" };

export default async function EventsPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  await requireActor("/events");
  // Normalised, so a hand-edited URL with a bad value still renders.
  const query = eventFilterToSearchParams(eventFilterFromSearchParams(await searchParams)).toString();
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Events</h1>
      <EventFeed query={query} />
    </div>
  );
}
