import { createTRPCRouter, protectedProcedure } from "../trpc";

export const meRouter = createTRPCRouter({
  /** The signed-in user and role, as the database has them now. */
  get: protectedProcedure.query(async ({ ctx }) => {
    const user = await ctx.db.user.findUniqueOrThrow({
      where: { id: ctx.actor.id },
      select: { id: true, email: true, name: true, image: true, role: true, createdAt: true, lastSignInAt: true },
    });
    return user;
  }),
});
