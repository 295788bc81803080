// Admin credit grants take an idempotency key: a retried request grants once,
// also when the retries race each other from several database clients (as from
// several app processes), and the audit row is written in the grant's own
// transaction: when the audit row cannot be written, nothing is granted.
// Through the real admin procedure, on SQLite and PostgreSQL.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createCaller } from "~/server/api/root";
import { createDatabaseClient, type Db } from "~/server/db/client";
import type { Actor } from "~/server/permissions";
import { balanceOf, currentBalance } from "~/server/vms/ledger";
import { createTestDb, type TestDb } from "../../support/db";
import { PROVIDERS } from "../db/providers";

vi.mock("~/server/auth/actor", () => ({ getActor: async () => null }));

type GrantInput = { userId: string; amount: number; reason: string; idempotencyKey?: string };
type GrantCaller = { grantCredits(input: GrantInput): Promise<{ balance: number; replayed: boolean }> };

describe.each(PROVIDERS)("$title", ({ provider, skip }) => {
  if (skip) return void it.skip("needs TEST_POSTGRES_URL", () => {});
  let t: TestDb;
  let admin: Actor;
  let userId: string;
  const extra: Db[] = [];
  const grant = (input: GrantInput, db: Db = t.db) =>
    (createCaller({ db, actor: admin, sourceIp: "192.0.2.1", userAgent: "vitest" }).admin as unknown as GrantCaller).grantCredits(input);
  const grantsOf = () => t.db.creditLedgerEntry.findMany({ where: { userId, kind: "GRANT", actorId: admin.id } });
  const auditRows = () => t.db.auditLog.findMany({ where: { action: "admin.grantCredits", targetId: userId } });
  const grantEvents = () => t.db.event.findMany({ where: { action: "credits.grant", targetUserId: userId } });

  beforeEach(async () => {
    t = await createTestDb({ provider });
    const a = await t.db.user.create({ data: { email: "admin@example.com", role: "ADMIN" } });
    admin = { id: a.id, email: a.email, role: "ADMIN" };
    userId = (await t.db.user.create({ data: { email: "student@example.com" } })).id;
  });
  afterEach(async () => {
    for (const c of extra.splice(0)) await c.$disconnect();
    await t.close();
  });

  it("grants once for a retried request with the same key, with one event and one audit row", async () => {
    const first = await grant({ userId, amount: 25, reason: "course project", idempotencyKey: "grant-0001-course" });
    const again = await grant({ userId, amount: 25, reason: "course project", idempotencyKey: "grant-0001-course" });
    expect(first.replayed).toBe(false);
    expect(again).toEqual({ balance: first.balance, replayed: true });
    expect(await balanceOf(t.db, userId)).toBe(first.balance);
    expect(await grantsOf()).toHaveLength(1);
    expect(await grantEvents()).toHaveLength(1);
    const audit = await auditRows();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actorId: admin.id,
      targetType: "User",
      after: { balance: first.balance, amount: 25, idempotencyKey: "grant-0001-course" },
    });
    expect((audit[0]!.after as { balance: number }).balance - (audit[0]!.before as { balance: number }).balance).toBe(25);

    // A new key is a new grant.
    const second = await grant({ userId, amount: 25, reason: "course project", idempotencyKey: "grant-0002-course" });
    expect(second.balance).toBe(first.balance + 25);
    expect(await auditRows()).toHaveLength(2);
  });

  it("grants once when retries with one key race from several database clients", async () => {
    const clients = [t.db, ...Array.from({ length: 3 }, () => createDatabaseClient(t.url))];
    extra.push(...clients.slice(1));
    const before = await grant({ userId, amount: 1, reason: "warm-up", idempotencyKey: "warm-up-0001" });
    const results = await Promise.all(clients.map((db) => grant({ userId, amount: 40, reason: "race", idempotencyKey: "race-key-0001" }, db)));
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(await balanceOf(t.db, userId)).toBe(before.balance + 40);
    expect((await grantsOf()).filter((g) => g.amount === 40)).toHaveLength(1);
    expect(await auditRows()).toHaveLength(2);
    expect(await grantEvents()).toHaveLength(2);
  });

  it("grants each user of a retried bulk grant once", async () => {
    const other = (await t.db.user.create({ data: { email: "other@example.com" } })).id;
    const bulk = (input: unknown) =>
      (createCaller({ db: t.db, actor: admin, sourceIp: null, userAgent: null }).admin as unknown as { bulk(i: unknown): Promise<{ message: string }[]> }).bulk(
        input,
      );
    const input = { userIds: [userId, other], action: { kind: "grant", amount: 7, reason: "lab week", idempotencyKey: "bulk-key-0001" } };
    await bulk(input);
    const again = await bulk(input);
    expect(again.map((o) => o.message)).toEqual([expect.stringMatching(/^already granted/), expect.stringMatching(/^already granted/)]);
    expect(await t.db.creditLedgerEntry.count({ where: { amount: 7, userId: { in: [userId, other] } } })).toBe(2);
    // The bulk request keeps its one audit row per call; the grants inside write none of their own.
    expect(await t.db.auditLog.count({ where: { action: "admin.bulk" } })).toBe(2);
    expect(await t.db.auditLog.count({ where: { action: "admin.grantCredits" } })).toBe(0);
  });

  it("refuses a key reused for a different grant", async () => {
    await grant({ userId, amount: 10, reason: "first", idempotencyKey: "reused-key-01" });
    await expect(grant({ userId, amount: 99, reason: "other", idempotencyKey: "reused-key-01" })).rejects.toMatchObject({ code: "CONFLICT" });
    expect(await grantsOf()).toHaveLength(1);
  });

  it("writes the audit row in the grant's transaction: no audit row, no grant", async () => {
    const refuse =
      provider === "postgresql"
        ? [
            `CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$ LANGUAGE plpgsql`,
            `CREATE TRIGGER refuse_audit BEFORE INSERT ON "AuditLog" FOR EACH ROW EXECUTE FUNCTION refuse_audit()`,
          ]
        : [`CREATE TRIGGER refuse_audit BEFORE INSERT ON "AuditLog" BEGIN SELECT RAISE(ABORT, 'audit refused'); END`];
    for (const sql of refuse) await t.db.$executeRawUnsafe(sql);
    const balance = await currentBalance(t.db, userId); // with the initial grant, which is written before the transaction
    // (Prisma words SQLite's RAISE(ABORT) as a constraint failure; PostgreSQL's message comes through.)
    await expect(grant({ userId, amount: 30, reason: "atomic", idempotencyKey: "atomic-key-01" })).rejects.toThrow(
      provider === "postgresql" ? /audit refused/ : /constraint/i,
    );
    expect(await balanceOf(t.db, userId)).toBe(balance);
    expect(await grantsOf()).toHaveLength(0);
    expect(await grantEvents()).toHaveLength(0);

    await t.db.$executeRawUnsafe(provider === "postgresql" ? `DROP TRIGGER refuse_audit ON "AuditLog"` : `DROP TRIGGER refuse_audit`);
    const retried = await grant({ userId, amount: 30, reason: "atomic", idempotencyKey: "atomic-key-01" });
    expect(retried).toEqual({ balance: balance + 30, replayed: false });
    expect(await auditRows()).toHaveLength(1);
  });
});
