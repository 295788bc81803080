// Users' SSH keys: a thin adapter over src/server/access/user-keys.ts, where
// the permission checks (canManageSshKeys, canRevokeSshKeys) happen.
import { z } from "zod";
import { addSshKey, listSshKeys, removeSshKey } from "../../access/user-keys";
import { createTRPCRouter, protectedProcedure } from "../trpc";

// Generous bounds: the domain refuses with messages for people (16 KB, 100
// characters); these only stop absurd payloads before they are parsed.
const addInput = z.object({
  label: z.string().max(1000, "The label is far too long (the most is 100 characters).").nullish(),
  publicKey: z.string().max(256 * 1024, "That is far more than one public key (the limit is 16 KB)."),
});

export const sshKeysRouter = createTRPCRouter({
  /** The actor's keys, or (for an admin) another user's. */
  list: protectedProcedure
    .input(z.object({ userId: z.string().min(1).max(64).optional() }).optional())
    .query(({ ctx, input }) => listSshKeys(ctx.db, ctx.actor, input?.userId ?? ctx.actor.id)),

  add: protectedProcedure
    .input(addInput)
    .mutation(({ ctx, input }) => addSshKey(ctx.db, ctx.actor, input, { sourceIp: ctx.sourceIp, userAgent: ctx.userAgent })),

  remove: protectedProcedure
    .input(z.object({ id: z.string().min(1).max(64) }))
    .mutation(({ ctx, input }) => removeSshKey(ctx.db, ctx.actor, input.id, { sourceIp: ctx.sourceIp, userAgent: ctx.userAgent })),
});
