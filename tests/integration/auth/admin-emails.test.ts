// AUTH_ADMIN_EMAILS: a promotion at sign-in is an event, and an admin cannot
// demote a listed admin (sign-in would silently give the role back); the
// refusal says where the role comes from.
import { vi } from "vitest";
vi.hoisted(() => {
  process.env.AUTH_ADMIN_EMAILS = "boss@corp.io";
});
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { setUserRole } from "~/server/admin/users";
import { LISTED_ADMIN_ACTION, promoteListedAdmin, recordListedAdmin } from "~/server/auth/admin-list";
import { createUserWithRole } from "~/server/auth/policy";
import type { Actor } from "~/server/permissions";
import { NO_REQUEST } from "~/server/request-info";
import { createTestDb, type TestDb } from "../../support/db";
import { PROVIDERS } from "../db/providers";

let t: TestDb;
const ADMINS = ["boss@corp.io"];
const mk = async (email: string, role: "USER" | "ADMIN" = "USER"): Promise<Actor> => {
  const u = await t.db.user.create({ data: { email, role } });
  return { id: u.id, email, role };
};
const listedEvents = () =>
  t.db.event.findMany({
    where: { action: LISTED_ADMIN_ACTION },
    select: { actorEmail: true, targetUserId: true, severity: true, sourceIp: true, message: true },
  });

describe.each(PROVIDERS)("$title", ({ provider, skip }) => {
  if (skip) return void it.skip("needs TEST_POSTGRES_URL", () => {});
  beforeEach(async () => (t = await createTestDb({ provider })));
  afterEach(() => t.close());

  it("promotes a listed plain user at sign-in once, with an event, and leaves others alone", async () => {
    const boss = await mk("boss@corp.io");
    const other = await mk("other@corp.io");
    const request = { sourceIp: "198.51.100.4", userAgent: "test" };
    expect(await promoteListedAdmin(t.db, boss, ADMINS, request)).toBe(true);
    expect(await promoteListedAdmin(t.db, boss, ADMINS, request)).toBe(false); // already admin: no second event
    expect(await promoteListedAdmin(t.db, other, ADMINS, request)).toBe(false);
    expect((await t.db.user.findUniqueOrThrow({ where: { id: boss.id } })).role).toBe("ADMIN");
    expect((await t.db.user.findUniqueOrThrow({ where: { id: other.id } })).role).toBe("USER");
    expect(await listedEvents()).toEqual([
      {
        actorEmail: "boss@corp.io",
        targetUserId: boss.id,
        severity: "WARNING",
        sourceIp: "198.51.100.4",
        message: "boss@corp.io became admin at sign-in: listed in AUTH_ADMIN_EMAILS",
      },
    ]);
  });

  it("records the listed admin a new account starts as", async () => {
    const { user, firstAdmin } = await createUserWithRole(t.db, { email: "Boss@Corp.io" }, ADMINS);
    expect({ role: user.role, firstAdmin }).toEqual({ role: "ADMIN", firstAdmin: false });
    await recordListedAdmin(t.db, user, "created", NO_REQUEST);
    expect((await listedEvents()).map((e) => e.message)).toEqual(["boss@corp.io joined as admin: listed in AUTH_ADMIN_EMAILS"]);
  });

  it("refuses to demote a listed admin, with the reason, and changes nothing", async () => {
    const root = await mk("root@corp.io", "ADMIN");
    const boss = await mk("boss@corp.io", "ADMIN");
    await expect(setUserRole(t.db, root, boss.id, "USER")).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringContaining("listed in AUTH_ADMIN_EMAILS; remove them there"),
    });
    expect((await t.db.user.findUniqueOrThrow({ where: { id: boss.id } })).role).toBe("ADMIN");
    expect(await t.db.event.count({ where: { action: "user.role" } })).toBe(0);
    // An unlisted admin can still be demoted while another admin remains.
    const change = await setUserRole(t.db, boss, root.id, "USER");
    expect(change).toMatchObject({ before: { role: "ADMIN" }, after: { role: "USER" } });
  });
});
