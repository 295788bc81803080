// The first-user rule under concurrency: several first sign-ins at once, each
// through its own database client (as several app processes would), and
// exactly one becomes admin.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDatabaseClient } from "~/server/db/client";
import { createUserWithRole } from "~/server/auth/policy";
import { createTestDb, type TestDb } from "../../support/db";
import { PROVIDERS } from "../db/providers";

let t: TestDb;

describe.each(PROVIDERS)("$title", ({ provider, skip }) => {
  if (skip) return void it.skip("needs TEST_POSTGRES_URL", () => {});
  beforeEach(async () => {
    t = await createTestDb({ provider });
  });
  afterEach(() => t.close());

  it("makes exactly one admin when six first sign-ins race on separate clients", async () => {
    const clients = Array.from({ length: 6 }, () => createDatabaseClient(t.url));
    try {
      const results = await Promise.all(clients.map((c, i) => createUserWithRole(c, { email: `racer${i}@example.com` }, [])));
      expect(results.filter((r) => r.firstAdmin)).toHaveLength(1);
      expect(await t.db.user.count({ where: { role: "ADMIN" } })).toBe(1);
      expect(await t.db.user.count()).toBe(6);
    } finally {
      await Promise.all(clients.map((c) => c.$disconnect()));
    }
  });
});
