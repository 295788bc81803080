// tRPC setup, laid out like create-t3-app: a context, then public, protected
// and admin procedures. Routers under ./routers are thin adapters over the
// domain modules in src/server/<area>/.
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError, z } from "zod";
import { db } from "../db";
import { getActor } from "../auth/actor";
import { isAdmin } from "../permissions";
import { DomainError } from "../errors";
import { requestInfoFrom } from "../request-info";

export async function createTRPCContext(opts: { headers: Headers }) {
  const actor = await getActor();
  return { db, actor, ...requestInfoFrom(opts.headers) };
}

export type Context = Awaited<ReturnType<typeof createTRPCContext>>;

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    return {
      ...shape,
      data: {
        ...shape.data,
        // zod failures come back as per-field messages the forms can show.
        fieldErrors: cause instanceof ZodError ? z.flattenError(cause).fieldErrors : null,
      },
    };
  },
});

export const createCallerFactory = t.createCallerFactory;
export const createTRPCRouter = t.router;
export const mergeRouters = t.mergeRouters;

/** Domain errors thrown by src/server/<area> become the matching tRPC codes. */
const domainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof DomainError) {
    const cause = result.error.cause;
    throw new TRPCError({ code: cause.code, message: cause.message, cause });
  }
  return result;
});

export const publicProcedure = t.procedure.use(domainErrors);

export const protectedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.actor) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in first." });
  return next({ ctx: { ...ctx, actor: ctx.actor } });
});

export const adminProcedure = protectedProcedure.use(({ ctx, next }) => {
  if (!isAdmin(ctx.actor)) throw new TRPCError({ code: "FORBIDDEN", message: "Admins only." });
  return next({ ctx });
});
