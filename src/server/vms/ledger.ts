// The credit ledger. A balance is the sum of a user's rows; rows are only ever
// inserted, never edited. addLedgerEntry() is the one function that changes a
// balance; an idempotency key makes a retried charge or grant a no-op.
import type { CreditEntryKind } from "~/generated/prisma/sqlite/enums";
import type { Db } from "../db/client";
import type { Tx } from "../db/retry";
import { env, type Env } from "../env";
import { roundCredits } from "./pricing";

export interface LedgerEntryInput {
  userId: string;
  kind: CreditEntryKind;
  /** Positive adds credits, negative takes them. */
  amount: number;
  reason: string;
  actorId?: string | null;
  actorEmail?: string | null;
  vmId?: string | null;
  idempotencyKey?: string | null;
}

/** Inserts one row; returns false when the idempotency key was already used. */
export async function addLedgerEntry(client: Db | Tx, input: LedgerEntryInput): Promise<boolean> {
  if (!Number.isFinite(input.amount)) throw new Error("a ledger amount must be a finite number");
  if (input.kind === "CHARGE" && input.amount > 0) throw new Error("a charge must not add credits");
  if (input.idempotencyKey) {
    const existing = await client.creditLedgerEntry.findUnique({ where: { idempotencyKey: input.idempotencyKey }, select: { id: true } });
    if (existing) return false;
  }
  await client.creditLedgerEntry.create({
    data: {
      userId: input.userId,
      kind: input.kind,
      amount: roundCredits(input.amount),
      reason: input.reason.slice(0, 500),
      actorId: input.actorId ?? null,
      actorEmail: input.actorEmail ?? null,
      vmId: input.vmId ?? null,
      idempotencyKey: input.idempotencyKey ?? null,
    },
  });
  return true;
}

/** Every user starts with the initial credits, granted once through the ledger. */
export async function ensureInitialGrant(db: Db, userId: string, e: Env = env()): Promise<void> {
  if (e.CREDITS_INITIAL <= 0) return;
  try {
    await addLedgerEntry(db, { userId, kind: "GRANT", amount: e.CREDITS_INITIAL, reason: "Initial credits", idempotencyKey: `initial:${userId}` });
  } catch (err) {
    // Two first requests at once: the unique key lets exactly one through.
    if ((err as { code?: string }).code !== "P2002") throw err;
  }
}

export async function balanceOf(db: Db | Tx, userId: string): Promise<number> {
  const sum = await db.creditLedgerEntry.aggregate({ where: { userId }, _sum: { amount: true } });
  return roundCredits(sum._sum.amount ?? 0);
}

/** The balance, after making sure the initial grant exists. */
export async function currentBalance(db: Db, userId: string, e: Env = env()): Promise<number> {
  await ensureInitialGrant(db, userId, e);
  return balanceOf(db, userId);
}

export function listLedgerEntries(db: Db, userId: string, take = 100) {
  return db.creditLedgerEntry.findMany({ where: { userId }, orderBy: { createdAt: "desc" }, take });
}
