// Personal API tokens: a script acts as its user, within the scopes the user
// gave the token. Only the token's sha256 is stored (a token is 190 bits of
// randomness, so a fast hash cannot be brute-forced; no slow KDF needed); its
// public prefix finds the row, and the hashes are compared in constant time.
//
// Every request re-reads the user: a disabled user's tokens stop at once, and
// a token acts as an admin only while it has the `admin` scope AND its user is
// an admin now. Without `admin`, an admin's token acts with a user's powers, so
// the permission functions in permissions.ts apply to it unchanged.
//
// Tokens are read from the Authorization header only. A token in a URL ends up
// in proxy logs, browser history and Referer headers, so the REST routes refuse
// requests that carry one in the query string (tokenInQueryString).
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { Db } from "../db/client";
import { DomainError, isUniqueViolation, notFound } from "../errors";
import { recordEvent } from "../events/record";
import { canCreateApiTokenWithScope, canManageApiTokens, type Actor } from "../permissions";
import { NO_REQUEST, requestInfoFrom, type RequestInfo } from "../request-info";
import { API_SCOPES, MAX_EXPIRY_DAYS, type ApiScope } from "./api-scopes";

export { API_SCOPES, type ApiScope };

/** Enough for every script a person runs; bounds the list and the table. */
export const MAX_TOKENS_PER_USER = 50;
/** Last-used time and address are written at most this often per token, not on every request. */
export const LAST_USED_WRITE_INTERVAL_MS = 60_000;

export const TOKEN_PREFIX = "twc_";
const PUBLIC_LENGTH = 8;
const SECRET_LENGTH = 32;
const TOKEN_PATTERN = new RegExp(`^${TOKEN_PREFIX}([A-Za-z0-9]{${PUBLIC_LENGTH}})([A-Za-z0-9]{${SECRET_LENGTH}})$`);
const TOKEN_IN_TEXT = new RegExp(`${TOKEN_PREFIX}[A-Za-z0-9]{${PUBLIC_LENGTH + SECRET_LENGTH}}`);
const BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 * 62: bytes above it are dropped so every character is equally likely.
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

export const hashApiToken = (token: string): string => createHash("sha256").update(token).digest("hex");

/** `twc_` + the public part shown in lists (8 characters) + the secret (32). */
export function generateApiToken(): { token: string; prefix: string } {
  const publicPart = randomBase62(PUBLIC_LENGTH);
  return { token: `${TOKEN_PREFIX}${publicPart}${randomBase62(SECRET_LENGTH)}`, prefix: `${TOKEN_PREFIX}${publicPart}` };
}

export const createApiTokenInputSchema = z.object({
  label: z.string().trim().min(1, "Give the token a label, e.g. the script that uses it.").max(100),
  scopes: z.array(z.enum(API_SCOPES)).min(1, "Pick at least one scope.").max(API_SCOPES.length),
  expiresInDays: z.number().int().min(1).max(MAX_EXPIRY_DAYS),
});
export type CreateApiTokenInput = z.infer<typeof createApiTokenInputSchema>;

const TOKEN_ROW = {
  id: true,
  label: true,
  prefix: true,
  scopes: true,
  expiresAt: true,
  revokedAt: true,
  lastUsedAt: true,
  lastUsedIp: true,
  createdAt: true,
} as const;
type TokenRow = {
  id: string;
  label: string;
  prefix: string;
  scopes: string;
  expiresAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  lastUsedIp: string | null;
  createdAt: Date;
};

export const parseScopes = (stored: string): ApiScope[] => stored.split(",").filter((s): s is ApiScope => (API_SCOPES as readonly string[]).includes(s));

function view(row: TokenRow, now = new Date()) {
  const status = row.revokedAt ? "revoked" : row.expiresAt <= now ? "expired" : "active";
  return { ...row, scopes: parseScopes(row.scopes), status: status as "active" | "revoked" | "expired" };
}
export type ApiTokenView = ReturnType<typeof view>;

/** The actor's own tokens, newest first (revoked and expired ones too, so their last use stays visible). */
export async function listApiTokens(db: Db, actor: Actor): Promise<ApiTokenView[]> {
  const rows = await db.apiToken.findMany({ where: { userId: actor.id }, orderBy: [{ createdAt: "desc" }, { id: "desc" }], select: TOKEN_ROW });
  const now = new Date();
  return rows.map((r) => view(r, now));
}

/** Creates a token for the actor. The token itself is in the answer once and never again. */
export async function createApiToken(
  db: Db,
  actor: Actor,
  raw: CreateApiTokenInput,
  request: RequestInfo = NO_REQUEST,
): Promise<{ token: string; apiToken: ApiTokenView }> {
  const input = createApiTokenInputSchema.parse(raw);
  if (!canManageApiTokens(actor, actor.id)) throw notFound("User");
  const scopes = API_SCOPES.filter((s) => input.scopes.includes(s));
  for (const scope of scopes) {
    if (!canCreateApiTokenWithScope(actor, scope)) throw new DomainError("FORBIDDEN", `Only admins may create tokens with the “${scope}” scope.`);
  }
  const active = await db.apiToken.count({ where: { userId: actor.id, revokedAt: null, expiresAt: { gt: new Date() } } });
  if (active >= MAX_TOKENS_PER_USER)
    throw new DomainError("BAD_REQUEST", `You have ${MAX_TOKENS_PER_USER} active tokens, the most an account may hold. Revoke one you no longer use first.`);

  const expiresAt = new Date(Date.now() + input.expiresInDays * 86_400_000);
  for (let attempt = 0; ; attempt++) {
    const { token, prefix } = generateApiToken();
    try {
      const row = await db.apiToken.create({
        data: { userId: actor.id, label: input.label, prefix, tokenHash: hashApiToken(token), scopes: scopes.join(","), expiresAt },
        select: TOKEN_ROW,
      });
      await recordEvent(db, {
        type: "auth",
        action: "apitoken.create",
        message: `${actor.email} created API token “${input.label}” (${prefix}…) with ${scopes.join(", ")}, expiring ${expiresAt.toISOString().slice(0, 10)}.`,
        actorId: actor.id,
        actorEmail: actor.email,
        targetUserId: actor.id,
        sourceIp: request.sourceIp,
        userAgent: request.userAgent,
        details: { tokenId: row.id, prefix, scopes, expiresAt: expiresAt.toISOString() },
      });
      return { token, apiToken: view(row) };
    } catch (err) {
      // Two tokens drew the same 47-bit public part: draw again.
      if (!isUniqueViolation(err) || attempt >= 3) throw err;
    }
  }
}

/** Revokes one of the actor's tokens; it stops working on the next request. Someone else's token looks missing. */
export async function revokeApiToken(db: Db, actor: Actor, id: string, request: RequestInfo = NO_REQUEST): Promise<ApiTokenView> {
  const row = await db.apiToken.findUnique({ where: { id }, select: { ...TOKEN_ROW, userId: true } });
  if (!row || !canManageApiTokens(actor, row.userId)) throw notFound("API token");
  if (row.revokedAt) return view(row);
  const revokedAt = new Date();
  const updated = await db.apiToken.update({ where: { id }, data: { revokedAt }, select: TOKEN_ROW });
  await recordEvent(db, {
    type: "auth",
    action: "apitoken.revoke",
    message: `${actor.email} revoked API token “${row.label}” (${row.prefix}…).`,
    actorId: actor.id,
    actorEmail: actor.email,
    targetUserId: row.userId,
    sourceIp: request.sourceIp,
    userAgent: request.userAgent,
    details: { tokenId: row.id, prefix: row.prefix },
  });
  return view(updated);
}

/** Who a token acts as, and what it may do. */
export interface TokenAuthentication {
  actor: Actor;
  scopes: ApiScope[];
  tokenId: string;
}

/**
 * Resolves a token to its user, or null when it is malformed, unknown, revoked,
 * expired, or its user is disabled or gone. Notes the last use (time and
 * client address) at most once a minute per token.
 */
export async function authenticateApiToken(db: Db, token: string, request: RequestInfo = NO_REQUEST, now = new Date()): Promise<TokenAuthentication | null> {
  const match = TOKEN_PATTERN.exec(token);
  if (!match) return null;
  const row = await db.apiToken.findUnique({
    where: { prefix: `${TOKEN_PREFIX}${match[1]}` },
    select: {
      id: true,
      tokenHash: true,
      scopes: true,
      expiresAt: true,
      revokedAt: true,
      lastUsedAt: true,
      user: { select: { id: true, email: true, role: true, disabled: true } },
    },
  });
  // Hash even when no row matched, so an unknown prefix costs the same as a wrong secret.
  const presented = Buffer.from(hashApiToken(token), "hex");
  const stored = Buffer.from(row?.tokenHash ?? "00".repeat(32), "hex");
  const hashMatches = stored.length === presented.length && timingSafeEqual(stored, presented);
  if (!row || !hashMatches || row.revokedAt || row.expiresAt <= now || row.user.disabled) return null;

  const scopes = parseScopes(row.scopes);
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_WRITE_INTERVAL_MS) {
    // Conditional, so concurrent requests in the same minute write once between them.
    await db.apiToken.updateMany({
      where: { id: row.id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lte: new Date(now.getTime() - LAST_USED_WRITE_INTERVAL_MS) } }] },
      data: { lastUsedAt: now, lastUsedIp: request.sourceIp },
    });
  }
  const role = row.user.role === "ADMIN" && scopes.includes("admin") ? "ADMIN" : "USER";
  return { actor: { id: row.user.id, email: row.user.email, role }, scopes, tokenId: row.id };
}

/** The token in `Authorization: Bearer …`, or null when the header is absent or another scheme. */
export function bearerTokenOf(headers: Headers): string | null {
  const value = headers.get("authorization");
  if (!value) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1] ?? null;
}

/** Whether a request carries something that looks like a token in its URL (which is refused, never used). */
export function tokenInQueryString(url: string): boolean {
  const params = new URL(url, "http://localhost").searchParams;
  for (const [name, value] of params) {
    if (/^(access_token|token|api_token|apikey|api_key|bearer)$/i.test(name) || TOKEN_IN_TEXT.test(value)) return true;
  }
  return false;
}

/**
 * For route handlers outside tRPC: the actor behind the request's bearer token
 * when the token is valid and has `scope`, else null. Never reads a session
 * cookie and never a token from the URL.
 */
export async function authenticateBearer(db: Db, request: Request, scope: ApiScope): Promise<Actor | null> {
  if (tokenInQueryString(request.url)) return null;
  const token = bearerTokenOf(request.headers);
  if (!token) return null;
  const auth = await authenticateApiToken(db, token, requestInfoFrom(request.headers));
  if (!auth || !auth.scopes.includes(scope)) return null;
  return auth.actor;
}
