// Personal API tokens: a thin adapter over src/server/auth/api-tokens.ts, where
// the permission checks (canManageApiTokens, canCreateApiTokenWithScope) happen.
// No procedure here has a token scope: tokens are managed from a signed-in session only.
import { z } from "zod";
import { createApiToken, createApiTokenInputSchema, listApiTokens, revokeApiToken } from "../../auth/api-tokens";
import { createTRPCRouter, protectedProcedure } from "../trpc";

export const apiTokensRouter = createTRPCRouter({
  /** The actor's own tokens, newest first; never the secret. */
  list: protectedProcedure.query(({ ctx }) => listApiTokens(ctx.db, ctx.actor)),

  /** The answer carries the token once; only its hash is kept. */
  create: protectedProcedure
    .input(createApiTokenInputSchema)
    .mutation(({ ctx, input }) => createApiToken(ctx.db, ctx.actor, input, { sourceIp: ctx.sourceIp, userAgent: ctx.userAgent })),

  revoke: protectedProcedure
    .input(z.object({ id: z.string().min(1).max(64) }))
    .mutation(({ ctx, input }) => revokeApiToken(ctx.db, ctx.actor, input.id, { sourceIp: ctx.sourceIp, userAgent: ctx.userAgent })),
});
