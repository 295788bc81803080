// An admin grants (positive) or takes back (negative) a user's credits. The
// ledger row, its event and its audit row are written in one transaction: all
// three or none. An idempotency key (one per grant the admin means, sent again
// with every retry of it) makes a retried request a no-op that answers the
// balance: the key is the ledger row's unique idempotencyKey, so two retries
// racing each other still grant once.
import type { Db } from "../db/client";
import { retryTransaction } from "../db/retry";
import { DomainError } from "../errors";
import { recordEvent } from "../events/record";
import { isAdmin, type Actor } from "../permissions";
import { NO_REQUEST, type RequestInfo } from "../request-info";
import { addLedgerEntry, balanceOf, ensureInitialGrant } from "../vms/ledger";
import { writeAudit } from "./audit";

export interface GrantInput {
  userId: string;
  amount: number;
  reason: string;
  /** The same for every retry of one grant (e.g. a UUID the form makes when it opens). */
  idempotencyKey?: string | null;
}

export interface GrantResult {
  balance: number;
  before: number;
  /** The key was used already: nothing was granted now. */
  replayed: boolean;
}

/** The audit row's action: the admin procedure's path, as the audited procedures write it. */
export const GRANT_AUDIT_ACTION = "admin.grantCredits";

const ledgerKey = (key: string) => `grant:${key}`;

/**
 * Grants credits. With `audit` (the grantCredits procedure) the AuditLog row is
 * written in the same transaction; a bulk grant leaves it to its own one row.
 */
export async function grantCredits(
  db: Db,
  admin: Actor,
  input: GrantInput,
  request: RequestInfo = NO_REQUEST,
  opts: { audit?: boolean } = {},
): Promise<GrantResult> {
  if (!isAdmin(admin)) throw new DomainError("FORBIDDEN", "Only admins can grant credits.");
  if (!Number.isFinite(input.amount) || input.amount === 0) throw new DomainError("BAD_REQUEST", "The amount must be a non-zero number.");
  const reason = input.reason.trim();
  if (!reason) throw new DomainError("BAD_REQUEST", "Say why the credits change.");
  const user = await db.user.findUnique({ where: { id: input.userId }, select: { id: true, email: true } });
  if (!user) throw new DomainError("NOT_FOUND", "User not found.");
  await ensureInitialGrant(db, user.id);
  const key = input.idempotencyKey ? ledgerKey(input.idempotencyKey) : null;

  const replay = async (): Promise<GrantResult> => {
    const first = await db.creditLedgerEntry.findUnique({ where: { idempotencyKey: key! }, select: { userId: true, amount: true, actorId: true } });
    // A key names one grant: reusing it for another user, amount or admin is a mistake, not a retry.
    if (!first || first.userId !== user.id || first.actorId !== admin.id || Math.abs(first.amount - input.amount) > 1e-9)
      throw new DomainError("CONFLICT", "This idempotency key was used for a different grant.");
    const balance = await balanceOf(db, user.id);
    return { balance, before: balance, replayed: true };
  };

  try {
    // A transaction a concurrent one got in the way of did nothing: it runs again (and finds the key if that one was a retry of this grant).
    const outcome = await retryTransaction(() =>
      db.$transaction(async (tx) => {
        const before = await balanceOf(tx, user.id);
        const added = await addLedgerEntry(tx, {
          userId: user.id,
          kind: input.amount > 0 ? "GRANT" : "CHARGE",
          amount: input.amount,
          reason,
          actorId: admin.id,
          actorEmail: admin.email,
          idempotencyKey: key,
        });
        if (!added) return { balance: before, before, replayed: true, replayCheck: true };
        const balance = await balanceOf(tx, user.id);
        const verb = input.amount > 0 ? "granted" : "took back";
        await recordEvent(tx, {
          type: "admin",
          action: "credits.grant",
          message: `${admin.email} ${verb} ${Math.abs(input.amount)} credits ${input.amount > 0 ? "to" : "from"} ${user.email}: ${reason}`,
          actorId: admin.id,
          actorEmail: admin.email,
          targetUserId: user.id,
          sourceIp: request.sourceIp,
          userAgent: request.userAgent,
          details: { amount: input.amount, balance },
        });
        if (opts.audit) {
          await writeAudit(tx, {
            actor: admin,
            action: GRANT_AUDIT_ACTION,
            targetType: "User",
            targetId: user.id,
            before: { balance: before },
            after: { balance, amount: input.amount, reason, ...(input.idempotencyKey ? { idempotencyKey: input.idempotencyKey } : {}) },
          });
        }
        return { balance, before, replayed: false, replayCheck: false };
      }),
    );
    const { replayCheck, ...result } = outcome;
    return replayCheck ? await replay() : result;
  } catch (err) {
    // Two tries with one key at once: the unique key let one through, and this is the other.
    if (key && (err as { code?: string }).code === "P2002") return replay();
    throw err;
  }
}
