import { z } from "zod";
import { notFound } from "../../errors";
import { feedInputSchema, getEvent, listEvents } from "../../events/feed";
import { createTRPCRouter, protectedProcedure } from "../trpc";

export const eventsRouter = createTRPCRouter({
  /** One page of the feed the caller may see, newest first. */
  list: protectedProcedure
    .meta({ scope: "events:read" })
    .input(feedInputSchema)
    .query(({ ctx, input }) => listEvents(ctx.db, ctx.actor, input)),
  get: protectedProcedure
    .meta({ scope: "events:read" })
    .input(z.object({ id: z.string().min(1).max(100) }))
    .query(async ({ ctx, input }) => {
      const event = await getEvent(ctx.db, ctx.actor, input.id);
      if (!event) throw notFound("Event");
      return event;
    }),
});
