// Who may sign in and with which role. Pure decisions plus the one database
// step that makes the first user an admin; the Auth.js wiring in index.ts
// calls these and records the events.
import type { Db } from "../db/client";
import { retryTransaction } from "../db/retry";
import type { Env } from "../env";

export type RefusalReason = "no-email" | "unverified-email" | "not-allowed" | "disabled";

export type SignInDecision = { allowed: true } | { allowed: false; reason: RefusalReason; message: string };

export const REFUSAL_MESSAGES: Record<RefusalReason, string> = {
  "no-email": "Your identity provider did not share an email address, so we cannot tell who you are.",
  "unverified-email":
    "Your identity provider has not verified this email address, so it cannot be used to sign in here. Verify it with your provider, then try again.",
  "not-allowed": "This email address is not allowed to sign in to this Twarga Cloud. Ask an admin to add your email or domain.",
  disabled: "Your account has been disabled by an admin.",
};

/** Whether AUTH_ADMIN_EMAILS (passed as `adminEmails`) names this email. */
export function isListedAdmin(email: string, adminEmails: readonly string[]): boolean {
  return adminEmails.includes(email.trim().toLowerCase());
}

export function isEmailAllowed(email: string, e: Pick<Env, "AUTH_ALLOWED_DOMAINS" | "AUTH_ALLOWED_EMAILS" | "AUTH_ADMIN_EMAILS">): boolean {
  const normalized = email.trim().toLowerCase();
  if (e.AUTH_ALLOWED_DOMAINS.length === 0 && e.AUTH_ALLOWED_EMAILS.length === 0) return true;
  if (e.AUTH_ALLOWED_EMAILS.includes(normalized) || isListedAdmin(normalized, e.AUTH_ADMIN_EMAILS)) return true;
  const domain = normalized.split("@").pop() ?? "";
  return e.AUTH_ALLOWED_DOMAINS.includes(domain);
}

/** Providers whose profile is an OIDC id_token: their `email_verified` claim says whether the email is the person's. */
const OIDC_PROVIDERS = new Set(["google", "oidc", "local"]);

/**
 * Whether the issuer vouches for the profile's email. For OIDC and Google that
 * is the `email_verified` claim (true, or "true" as some issuers send it); a
 * missing claim is not a yes. GitHub's profile has no such claim.
 */
export function emailVerifiedBy(provider: string | null | undefined, profile: Record<string, unknown> | null | undefined): boolean {
  if (!provider || !OIDC_PROVIDERS.has(provider)) return true;
  const claim = profile?.email_verified;
  return claim === true || claim === "true";
}

/**
 * The sign-in decision. An email its issuer has not verified is refused before
 * any list is consulted (unless AUTH_TRUST_UNVERIFIED_EMAIL), so it can neither
 * pass the allowlists nor match AUTH_ADMIN_EMAILS.
 */
export function decideSignIn(
  email: string | null | undefined,
  existing: { disabled: boolean } | null,
  e: Pick<Env, "AUTH_ALLOWED_DOMAINS" | "AUTH_ALLOWED_EMAILS" | "AUTH_ADMIN_EMAILS"> & Partial<Pick<Env, "AUTH_TRUST_UNVERIFIED_EMAIL">>,
  emailVerified = true,
): SignInDecision {
  if (!email) return { allowed: false, reason: "no-email", message: REFUSAL_MESSAGES["no-email"] };
  if (!emailVerified && !e.AUTH_TRUST_UNVERIFIED_EMAIL) return { allowed: false, reason: "unverified-email", message: REFUSAL_MESSAGES["unverified-email"] };
  if (!isEmailAllowed(email, e)) return { allowed: false, reason: "not-allowed", message: REFUSAL_MESSAGES["not-allowed"] };
  if (existing?.disabled) return { allowed: false, reason: "disabled", message: REFUSAL_MESSAGES.disabled };
  return { allowed: true };
}

/**
 * Creates a user with the role the policy gives: ADMIN for listed admin emails;
 * with no admin listed, ADMIN for the first user when no admin exists yet;
 * USER otherwise. The count and the insert run in one serializable
 * transaction: when two first sign-ins (in one process or several sharing a
 * PostgreSQL) race, the database fails one of them, which is retried and then
 * sees the other's admin, so only one becomes admin by the first-user rule.
 */
export async function createUserWithRole(
  client: Db,
  data: { email: string; name?: string | null; image?: string | null; emailVerified?: Date | null },
  adminEmails: string[],
) {
  const email = data.email.toLowerCase();
  return retryTransaction(() =>
    client.$transaction(
      async (tx) => {
        let role: "USER" | "ADMIN" = "USER";
        let firstAdmin = false;
        if (isListedAdmin(email, adminEmails)) role = "ADMIN";
        else if (adminEmails.length === 0 && (await tx.user.count({ where: { role: "ADMIN" } })) === 0) {
          role = "ADMIN";
          firstAdmin = true;
        }
        const user = await tx.user.create({
          data: { email, name: data.name ?? null, image: data.image ?? null, emailVerified: data.emailVerified ?? null, role },
        });
        return { user, firstAdmin };
      },
      { isolationLevel: "Serializable" },
    ),
  );
}
