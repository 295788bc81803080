// tests/support/db.ts's createTestDb on each provider: the Prisma client it
// returns works against the migrated database (enums, JSON, relations with
// cascades), and close() drops a PostgreSQL database.
import { describe, expect, it } from "vitest";
import { createTestDb } from "../../support/db";
import { PROVIDERS, queryRows } from "./providers";

for (const { provider, skip, title } of PROVIDERS) {
  describe.skipIf(skip)(`createTestDb on ${title}`, () => {
    it("gives a migrated database the Prisma client can write and read, and close() removes a PostgreSQL one", async () => {
      const t = await createTestDb({ provider });
      let closed = false;
      try {
        const user = await t.db.user.create({
          data: { email: "ada@example.com", name: "Ada", role: "ADMIN", accounts: { create: { type: "oidc", provider: "local", providerAccountId: "ada" } } },
          include: { accounts: true },
        });
        expect(user).toMatchObject({ email: "ada@example.com", role: "ADMIN", disabled: false, accounts: [{ provider: "local" }] });
        expect(user.createdAt).toBeInstanceOf(Date);

        await t.db.event.create({ data: { type: "auth", action: "sign-in", message: "signed in", actorId: user.id, details: { via: "test", n: 1 } } });
        const [event] = await t.db.event.findMany({ where: { actorId: user.id } });
        expect(event).toMatchObject({ severity: "INFO", details: { via: "test", n: 1 } });

        await expect(t.db.user.create({ data: { email: "ada@example.com" } })).rejects.toThrow();
        await t.db.user.delete({ where: { id: user.id } });
        expect(await t.db.account.count()).toBe(0); // ON DELETE CASCADE

        await t.close();
        closed = true;
        if (provider === "postgresql") {
          const name = new URL(t.url).pathname.slice(1);
          const rows = await queryRows<{ n: number }>(process.env.TEST_POSTGRES_URL!, `SELECT count(*)::int AS n FROM pg_database WHERE datname = '${name}'`);
          expect(rows).toEqual([{ n: 0 }]);
        }
      } finally {
        if (!closed) await t.close();
      }
    });
  });
}
