import { afterEach, describe, expect, it } from "vitest";
import { createUserWithRole, decideSignIn, isEmailAllowed } from "~/server/auth/policy";
import { createTestDb, type TestDb } from "../../support/db";

const open = { AUTH_ALLOWED_DOMAINS: [], AUTH_ALLOWED_EMAILS: [], AUTH_ADMIN_EMAILS: [] };
const restricted = { AUTH_ALLOWED_DOMAINS: ["example.com"], AUTH_ALLOWED_EMAILS: ["guest@other.org"], AUTH_ADMIN_EMAILS: ["boss@corp.io"] };

describe("who may sign in", () => {
  it("allows everyone when no list is set, and only listed domains and emails otherwise", () => {
    expect(isEmailAllowed("anyone@anywhere.net", open)).toBe(true);
    expect(isEmailAllowed("Ada@Example.com", restricted)).toBe(true);
    expect(isEmailAllowed("guest@other.org", restricted)).toBe(true);
    expect(isEmailAllowed("boss@corp.io", restricted)).toBe(true);
    expect(isEmailAllowed("eve@other.org", restricted)).toBe(false);
    // A look-alike domain is not the allowed one.
    expect(isEmailAllowed("eve@evilexample.com", restricted)).toBe(false);
    expect(isEmailAllowed("eve@example.com.evil.io", restricted)).toBe(false);
  });

  it("refuses a missing email, a foreign domain and a disabled user, with a reason", () => {
    expect(decideSignIn(null, null, open)).toMatchObject({ allowed: false, reason: "no-email" });
    expect(decideSignIn("x@y.z", null, restricted)).toMatchObject({ allowed: false, reason: "not-allowed" });
    expect(decideSignIn("a@example.com", { disabled: true }, restricted)).toMatchObject({ allowed: false, reason: "disabled" });
    expect(decideSignIn("a@example.com", { disabled: false }, restricted)).toEqual({ allowed: true });
  });
});

describe("roles at creation", () => {
  let t: TestDb;
  afterEach(async () => t?.close());

  it("makes the first user admin when no admin email is listed, then plain users", async () => {
    t = await createTestDb();
    const first = await createUserWithRole(t.db, { email: "First@Example.com" }, []);
    expect(first).toMatchObject({ firstAdmin: true, user: { role: "ADMIN", email: "first@example.com" } });
    const second = await createUserWithRole(t.db, { email: "second@example.com" }, []);
    expect(second).toMatchObject({ firstAdmin: false, user: { role: "USER" } });
  });

  it("gives ADMIN only to listed emails when the list is set", async () => {
    t = await createTestDb();
    const first = await createUserWithRole(t.db, { email: "first@example.com" }, ["boss@corp.io"]);
    expect(first.user.role).toBe("USER");
    const boss = await createUserWithRole(t.db, { email: "boss@corp.io" }, ["boss@corp.io"]);
    expect(boss).toMatchObject({ firstAdmin: false, user: { role: "ADMIN" } });
  });

  it("never makes two first admins when two people sign in at once", async () => {
    t = await createTestDb();
    const results = await Promise.all(["a@x.io", "b@x.io", "c@x.io"].map((email) => createUserWithRole(t.db, { email }, [])));
    expect(results.filter((r) => r.user.role === "ADMIN")).toHaveLength(1);
  });
});
