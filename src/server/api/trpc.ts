// tRPC setup, laid out like create-t3-app: a context, then public, protected
// and admin procedures. Routers under ./routers are thin adapters over the
// domain modules in src/server/<area>/.
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError, z } from "zod";
import { db } from "../db";
import { getActor } from "../auth/actor";
import { authenticateApiToken, bearerTokenOf, type ApiScope } from "../auth/api-tokens";
import { isAdmin, type Actor } from "../permissions";
import { DomainError } from "../errors";
import { requestInfoFrom } from "../request-info";

export interface Context {
  db: typeof db;
  actor: Actor | null;
  sourceIp: string | null;
  userAgent: string | null;
  /** Set when a bearer token signed the request in: what it may do. Absent for a session, which keeps full power. */
  tokenScopes?: readonly ApiScope[] | null;
}

/** A request with `Authorization: Bearer …` is its token's user (never the cookie's); otherwise the session's. */
export async function createTRPCContext(opts: { headers: Headers }): Promise<Context> {
  const request = requestInfoFrom(opts.headers);
  const bearer = bearerTokenOf(opts.headers);
  if (bearer !== null) {
    const auth = await authenticateApiToken(db, bearer, request);
    return { db, actor: auth?.actor ?? null, tokenScopes: auth?.scopes ?? [], ...request };
  }
  return { db, actor: await getActor(), ...request };
}

/** What a bearer token needs to call a procedure. A procedure without a scope is for sessions only. */
export interface ProcedureMeta {
  scope?: ApiScope;
}

const t = initTRPC
  .context<Context>()
  .meta<ProcedureMeta>()
  .create({
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

export const protectedProcedure = publicProcedure.use(({ ctx, meta, next }) => {
  if (!ctx.actor) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in first." });
  if (ctx.tokenScopes) {
    if (!meta?.scope) throw new TRPCError({ code: "FORBIDDEN", message: "API tokens cannot call this; sign in instead." });
    if (!ctx.tokenScopes.includes(meta.scope)) throw new TRPCError({ code: "FORBIDDEN", message: `This token lacks the “${meta.scope}” scope.` });
  }
  return next({ ctx: { ...ctx, actor: ctx.actor } });
});

// A token reaches an admin procedure only with the `admin` scope, and its actor
// is an admin only while its user is one (api-tokens.ts), so both must hold.
export const adminProcedure = protectedProcedure.meta({ scope: "admin" }).use(({ ctx, next }) => {
  if (!isAdmin(ctx.actor)) throw new TRPCError({ code: "FORBIDDEN", message: "Admins only." });
  return next({ ctx });
});
