import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RAISED, startCorrelation, type Clock } from "~/server/events/correlation";
import { recordEvent as writeEvent } from "~/server/events/record";
import { createTestDb, type TestDb } from "../../support/db";
import { PROVIDERS } from "../db/providers";

class FakeClock implements Clock {
  constructor(private t = new Date("2026-11-28T01:00:00Z").getTime()) {}
  now() {
    return new Date(this.t);
  }
  advance(minutes: number) {
    this.t += minutes * 60_000;
  }
}

let t: TestDb;
let clock: FakeClock;
let correlation: ReturnType<typeof startCorrelation>;
/** Records an event and lets the rules read it, as the background process does on its next poll. */
async function recordEvent(...args: Parameters<typeof writeEvent>) {
  const row = await writeEvent(...args);
  await correlation.catchUp();
  return row;
}
const settings = { bruteForceThreshold: 5, bruteForceWindowMs: 10 * 60_000, massDestroyThreshold: 5, massDestroyWindowMs: 10 * 60_000 };

describe.each(PROVIDERS)("$title", ({ provider, skip }) => {
  if (skip) return void it.skip("needs TEST_POSTGRES_URL", () => {});
  beforeEach(async () => {
    t = await createTestDb({ provider });
    clock = new FakeClock();
    correlation = startCorrelation(t.db, settings, clock, { pollMs: 60_000 });
  });
  afterEach(async () => {
    await correlation.stop();
    await t.close();
  });

  const sshFailure = (ip: string) =>
    recordEvent(t.db, { type: "ssh", action: "ssh.failed", severity: "WARNING", message: "failed", sourceIp: ip, at: clock.now() });
  const appFailure = (ip: string, action = "signin.failed") =>
    recordEvent(t.db, { type: "auth", action, severity: "WARNING", message: "refused", sourceIp: ip, at: clock.now() });
  const raised = (action: string) => t.db.event.findMany({ where: { action }, orderBy: { createdAt: "asc" } });

  describe("brute force rule (fake clock)", () => {
    it("raises one critical event per burst, counting SSH and app failures together", async () => {
      for (let i = 0; i < 4; i++) {
        await sshFailure("203.0.113.5");
        clock.advance(1);
      }
      expect(await raised(RAISED.bruteForce)).toHaveLength(0);
      await appFailure("203.0.113.5", "signin.refused.domain");
      const [first] = await raised(RAISED.bruteForce);
      expect(first).toMatchObject({ severity: "CRITICAL", sourceIp: "203.0.113.5", type: "auth" });
      expect(first!.createdAt).toEqual(clock.now());
      // the burst goes on for an hour, one attempt every 2 minutes: still one event
      for (let i = 0; i < 30; i++) {
        clock.advance(2);
        await sshFailure("203.0.113.5");
      }
      expect(await raised(RAISED.bruteForce)).toHaveLength(1);
    });

    it("raises again only after the IP has been quiet for a window", async () => {
      for (let i = 0; i < 5; i++) await sshFailure("198.51.100.1");
      clock.advance(9); // not quiet long enough
      for (let i = 0; i < 5; i++) await sshFailure("198.51.100.1");
      expect(await raised(RAISED.bruteForce)).toHaveLength(1);
      clock.advance(10); // quiet for a whole window: a new burst
      for (let i = 0; i < 4; i++) await sshFailure("198.51.100.1");
      expect(await raised(RAISED.bruteForce)).toHaveLength(1);
      await sshFailure("198.51.100.1");
      expect(await raised(RAISED.bruteForce)).toHaveLength(2);
    });

    it("does not add up failures spread wider than the window, nor across IPs", async () => {
      for (let i = 0; i < 10; i++) {
        await sshFailure("192.0.2.1");
        clock.advance(3); // at most 4 in any 10 minutes
      }
      for (const ip of ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14"]) await sshFailure(ip);
      expect(await raised(RAISED.bruteForce)).toHaveLength(0);
    });

    it("ignores successful sign-ins and other events from the IP", async () => {
      for (let i = 0; i < 6; i++) await recordEvent(t.db, { type: "ssh", action: "ssh.accepted", message: "ok", sourceIp: "192.0.2.99", at: clock.now() });
      for (let i = 0; i < 6; i++) await recordEvent(t.db, { type: "ssh", action: "ssh.invalid_user", message: "inv", sourceIp: "192.0.2.99", at: clock.now() });
      expect(await raised(RAISED.bruteForce)).toHaveLength(0);
    });

    it("keeps its burst state across a restart", async () => {
      for (let i = 0; i < 5; i++) await sshFailure("203.0.113.77");
      await correlation.stop();
      correlation = startCorrelation(t.db, settings, clock, { pollMs: 60_000 });
      clock.advance(1);
      await sshFailure("203.0.113.77");
      expect(await raised(RAISED.bruteForce)).toHaveLength(1);
    });
  });

  describe("admin sign-in from a new IP", () => {
    it("warns when an admin signs in from an address not seen for them", async () => {
      const admin = await t.db.user.create({ data: { email: "root@example.com", role: "ADMIN" } });
      const user = await t.db.user.create({ data: { email: "u@example.com" } });
      const signin = (id: string, ip: string) =>
        recordEvent(t.db, { type: "auth", action: "signin", message: "signed in", actorId: id, sourceIp: ip, at: clock.now() });
      await signin(admin.id, "10.0.0.1"); // first ever: nothing to compare with
      clock.advance(1);
      await signin(admin.id, "10.0.0.1");
      expect(await raised(RAISED.adminNewIp)).toHaveLength(0);
      await signin(admin.id, "10.9.9.9");
      const [w] = await raised(RAISED.adminNewIp);
      expect(w).toMatchObject({ severity: "WARNING", sourceIp: "10.9.9.9", actorId: admin.id, targetUserId: admin.id });
      await signin(admin.id, "10.9.9.9");
      await signin(user.id, "10.0.0.1");
      await signin(user.id, "172.16.0.1"); // not an admin
      expect(await raised(RAISED.adminNewIp)).toHaveLength(1);
    });
  });

  describe("mass destroy rule", () => {
    it("warns once when a user destroys more than 5 VMs in 10 minutes", async () => {
      const u = await t.db.user.create({ data: { email: "dev@example.com" } });
      const destroy = () => recordEvent(t.db, { type: "vm", action: "vm.destroy", message: "destroyed", actorId: u.id, at: clock.now() });
      for (let i = 0; i < 5; i++) {
        await destroy();
        clock.advance(1);
      }
      expect(await raised(RAISED.massDestroy)).toHaveLength(0);
      await destroy();
      await destroy();
      const warnings = await raised(RAISED.massDestroy);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ severity: "WARNING", targetUserId: u.id });
      expect(warnings[0]!.message).toContain("dev@example.com");
    });

    it("does not warn for destroys spread over more than the window", async () => {
      const u = await t.db.user.create({ data: { email: "slow@example.com" } });
      for (let i = 0; i < 12; i++) {
        await recordEvent(t.db, { type: "vm", action: "vm.destroy", message: "destroyed", actorId: u.id, at: clock.now() });
        clock.advance(2.5);
      }
      expect(await raised(RAISED.massDestroy)).toHaveLength(0);
    });
  });
});
