// Auth.js (next-auth 5) wiring: database sessions through the Prisma adapter,
// providers from settings, the sign-in policy, and an Event for every sign-in,
// sign-out, refusal and failure. Initialised per request so events carry the
// request's source IP and user agent.
import NextAuth, { type NextAuthConfig } from "next-auth";
import { PrismaAdapter } from "@auth/prisma-adapter";
import type { Adapter, AdapterUser } from "next-auth/adapters";
import type { NextRequest } from "next/server";
import { db } from "../db";
import { env } from "../env";
import { recordEvent } from "../events/record";
import { configuredProviders } from "./providers";
import { createUserWithRole, decideSignIn, emailVerifiedBy } from "./policy";
import { refusalWords, signInFailureWords } from "./failure-words";
import { promoteListedAdmin, recordListedAdmin } from "./admin-list";
import { safeCallbackPath } from "./callback-url";
import { authSecret } from "./secret";
import { NO_REQUEST, requestInfoFrom, type RequestInfo } from "../request-info";

declare module "next-auth" {
  interface Session {
    user: { id: string; email: string; name?: string | null; image?: string | null; role: "USER" | "ADMIN" };
  }
}

/** The Prisma adapter with the app's rules: role at creation, and no session for a disabled user. */
function appAdapter(info: RequestInfo): Adapter {
  const base = PrismaAdapter(db as never) as Adapter;
  return {
    ...base,
    async createUser(data: AdapterUser) {
      const { user, firstAdmin } = await createUserWithRole(db, data, env().AUTH_ADMIN_EMAILS);
      if (firstAdmin)
        await recordEvent(db, {
          type: "auth",
          action: "role.first-admin",
          severity: "WARNING",
          actorId: user.id,
          actorEmail: user.email,
          targetUserId: user.id,
          ...info,
          message: `${user.email} is the first user and became admin`,
        });
      else if (user.role === "ADMIN") await recordListedAdmin(db, user, "created", info);
      return user as AdapterUser;
    },
    async getSessionAndUser(sessionToken) {
      const found = await base.getSessionAndUser!(sessionToken);
      if (found && (found.user as AdapterUser & { disabled?: boolean }).disabled) {
        // A disabled user's sessions end at once, whatever their expiry.
        await db.session.deleteMany({ where: { userId: found.user.id } });
        return null;
      }
      return found;
    },
  };
}

function buildConfig(req: NextRequest | undefined): NextAuthConfig {
  const e = env();
  const info = req ? requestInfoFrom(req.headers) : NO_REQUEST;
  return {
    adapter: appAdapter(info),
    providers: configuredProviders().providers,
    secret: authSecret(),
    trustHost: true,
    session: { strategy: "database", maxAge: 30 * 24 * 60 * 60 },
    pages: { signIn: "/signin", error: "/signin/error" },
    callbacks: {
      async signIn({ user, account, profile }) {
        const email = user.email?.toLowerCase() ?? null;
        const existing = email ? await db.user.findUnique({ where: { email }, select: { id: true, disabled: true } }) : null;
        const emailVerified = emailVerifiedBy(account?.provider, profile);
        const decision = decideSignIn(email, existing, e, emailVerified);
        if (decision.allowed) return true;
        await recordEvent(db, {
          type: "auth",
          action: "signin.refused",
          severity: "WARNING",
          actorId: existing?.id ?? null,
          actorEmail: email,
          targetUserId: existing?.id ?? null,
          ...info,
          message: `Sign-in refused for ${email ?? "an account without email"}: ${refusalWords(decision.reason)}`,
          details: { reason: decision.reason, provider: account?.provider ?? null, emailVerified },
        });
        return `/signin/refused?reason=${decision.reason}`;
      },
      // Every post-sign-in and post-sign-out destination goes through the one check.
      redirect({ url, baseUrl }) {
        return `${baseUrl}${safeCallbackPath(url, baseUrl)}`;
      },
      session({ session, user }) {
        const u = user as AdapterUser & { role?: "USER" | "ADMIN" };
        Object.assign(session.user, { id: u.id, email: u.email, name: u.name, image: u.image, role: u.role ?? "USER" });
        return session;
      },
    },
    events: {
      async signIn({ user, account, isNewUser }) {
        if (!user.id || !user.email) return;
        await db.user.update({ where: { id: user.id }, data: { lastSignInAt: new Date() } });
        await promoteListedAdmin(db, { id: user.id, email: user.email }, e.AUTH_ADMIN_EMAILS, info);
        const fresh = await db.user.findUnique({ where: { id: user.id }, select: { role: true } });
        await recordEvent(db, {
          type: "auth",
          action: "signin",
          actorId: user.id,
          actorEmail: user.email,
          targetUserId: user.id,
          ...info,
          message: `${user.email} signed in with ${account?.provider ?? "?"}${isNewUser ? " (new account)" : ""}`,
          details: { provider: account?.provider ?? null, newUser: Boolean(isNewUser), role: fresh?.role ?? null },
        });
      },
      async signOut(message) {
        const session = "session" in message ? message.session : null;
        if (!session?.userId) return;
        const user = await db.user.findUnique({ where: { id: session.userId }, select: { email: true } });
        await recordEvent(db, {
          type: "auth",
          action: "signout",
          actorId: session.userId,
          actorEmail: user?.email ?? null,
          targetUserId: session.userId,
          ...info,
          message: `${user?.email ?? session.userId} signed out`,
        });
      },
    },
    logger: {
      error(error) {
        // OAuth failures (bad state, issuer down, denied consent) land here.
        const name = (error as { type?: string }).type ?? error.name;
        console.error(`[auth] ${name}: ${error.message}`);
        if (name === "AccessDenied") return; // already recorded as signin.refused
        void recordEvent(db, {
          type: "auth",
          action: "signin.failed",
          severity: "WARNING",
          ...info,
          message: `Sign-in failed: ${signInFailureWords(name)}`,
          details: { error: name, message: error.message.slice(0, 500) },
        }).catch(() => {});
      },
      warn(code) {
        if (code !== "debug-enabled") console.warn(`[auth] warning: ${code}`);
      },
    },
  };
}

export const { handlers, auth, signIn, signOut } = NextAuth((req) => buildConfig(req));
