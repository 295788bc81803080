// Job leases and the job's failure path, against real databases: a slow job
// keeps its lease and nobody else takes it; a job whose runner died is taken
// over once its lease runs out, by exactly one runner; and a database that
// fails between the Vagrant command and the state write (PostgreSQL refusing
// connections, SQLite's write lock held by another connection) never leaves a
// job RUNNING: it ends SUCCEEDED when the retries outlast the failure, FAILED
// with a message when they do not.
import { controlFakeVagrant, fakeCalls, makeUser, noRequest, testDbProvider, tinyBox, waitFor } from "./harness";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import { sqlitePath } from "~/server/db/client";
import { vmFolder } from "~/server/folders";
import { claimAbandonedJobs, newJobLeaseOwner, retireJobLeaseOwner } from "~/server/vms/job-lease";
import { createVm } from "~/server/vms/lifecycle";
import { reconcileStuckVms } from "~/server/vms/reconcile";
import { VmJobRunner } from "~/server/vms/runner";
import type { Actor } from "~/server/permissions";

const runners: VmJobRunner[] = [];
let n = 0;
const stopRunners = () => Promise.all(runners.splice(0).map((r) => r.stop()));
afterEach(async () => {
  await stopRunners();
  controlFakeVagrant({});
});

async function setUp(provider: "sqlite" | "postgresql" = testDbProvider) {
  const t = await createTestDb({ provider });
  const boxId = (await tinyBox(t.db)).id;
  const alice = await makeUser(t.db, `lease-${++n}@example.com`);
  return { t, boxId, alice };
}

function startRunner(t: TestDb, opts: ConstructorParameters<typeof VmJobRunner>[1] = {}) {
  const r = new VmJobRunner(t.db, { pollMs: 50, observe: { recheckMs: 5 }, ...opts }).start();
  runners.push(r);
  return r;
}

const launch = (t: TestDb, alice: Actor, boxId: string) =>
  createVm(t.db, alice, { name: `lease-vm-${++n}`, boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest);

/** The job's row, or null while the database cannot be read (the tests cut it off). */
const jobRow = (t: TestDb, id: string) => t.db.vmJob.findUnique({ where: { id } }).catch(() => null);

describe("leases", () => {
  it("a job slower than its lease keeps it through heartbeats; a second runner does not take it", async () => {
    const { t, boxId, alice } = await setUp();
    controlFakeVagrant({ up: { delayMs: 150 } }); // about 3 s of output, the lease is 0.6 s
    const a = startRunner(t, { leaseMs: 600 });
    const { vm, job } = await launch(t, alice, boxId);
    const first = await waitFor(async () => ((await jobRow(t, job.id))?.state === "RUNNING" ? jobRow(t, job.id) : null));
    expect(first!.leaseOwner).toBe(a.leaseOwner);
    const b = startRunner(t, { leaseMs: 600 }); // sweeps every 0.6 s for abandoned jobs
    const expiries: number[] = [];
    for (;;) {
      const j = (await jobRow(t, job.id))!;
      if (j.state !== "RUNNING") break;
      expect(j.leaseOwner).toBe(a.leaseOwner);
      expiries.push(j.leaseExpiresAt!.getTime());
      await new Promise((r) => setTimeout(r, 200));
    }
    // Renewed while it ran: the expiry moved on, and it ran well past one lease.
    expect(Math.max(...expiries) - Math.min(...expiries)).toBeGreaterThan(600);
    const done = (await jobRow(t, job.id))!;
    expect(done.state).toBe("SUCCEEDED");
    expect(done.leaseOwner).toBe(a.leaseOwner);
    expect(done.leaseOwner).not.toBe(b.leaseOwner);
    expect(fakeCalls(vmFolder(vm.id)).filter((c) => c[0] === "up")).toHaveLength(1);
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("RUNNING");
    await stopRunners();
    await t.close();
  }, 60_000);

  it("a job whose runner is gone is taken over only after its lease runs out, by exactly one runner", async () => {
    const { t, boxId, alice } = await setUp();
    const { vm, job } = await launch(t, alice, boxId);
    // Claimed by a runner on another host that then died: nothing on this host can tell it is gone but its lease.
    const expiresAt = new Date(Date.now() + 1_500);
    await t.db.vmJob.update({
      where: { id: job.id },
      data: { state: "RUNNING", startedAt: new Date(), leaseOwner: "other-host:4242:0badc0de", leaseExpiresAt: expiresAt },
    });
    const [x, y] = [newJobLeaseOwner(), newJobLeaseOwner()];
    expect(await claimAbandonedJobs(t.db, x, 5_000)).toEqual([]);
    await new Promise((r) => setTimeout(r, expiresAt.getTime() - Date.now() + 50));
    // Two at once: the compare-and-set on the old lease lets one win.
    const [cx, cy] = await Promise.all([claimAbandonedJobs(t.db, x, 5_000), claimAbandonedJobs(t.db, y, 5_000)]);
    expect(cx.length + cy.length).toBe(1);
    const winner = cx.length ? x : y;
    expect((await jobRow(t, job.id))!.leaseOwner).toBe(winner);
    // The winner "dies" without finishing: once retired in this process, its PID's jobs are free at once.
    retireJobLeaseOwner(winner);
    retireJobLeaseOwner(winner === x ? y : x);
    const r = startRunner(t, { leaseMs: 5_000 });
    const ended = await waitFor(async () => {
      const j = await jobRow(t, job.id);
      return j && j.state !== "RUNNING" ? j : null;
    });
    expect(ended.state).toBe("INTERRUPTED");
    expect(ended.leaseOwner).toBe(r.leaseOwner);
    // Its `vagrant up` never ran: no domain, and the VM says so rather than staying CREATING.
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("ERROR");
    await stopRunners();
    await t.close();
  }, 60_000);
});

/** Waits until the runner's job has run `vagrant status` after its command: the next database write is the state write. */
async function untilStatusRuns(folder: string) {
  await waitFor(async () => fakeCalls(folder).some((c) => c[0] === "status"), 30_000, "vagrant status after the command");
}

const pgSkip = !process.env.TEST_POSTGRES_URL;

describe.skipIf(pgSkip)("PostgreSQL refusing connections between the command and the state write", () => {
  /** Cuts every connection to the test's database and refuses new ones until the returned function is called. */
  async function cutOff(url: string): Promise<() => Promise<void>> {
    const name = new URL(url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: process.env.TEST_POSTGRES_URL });
    await admin.connect();
    await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name]);
    return async () => {
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      await admin.end();
    };
  }

  it("an outage shorter than the retries: the job ends SUCCEEDED and the VM RUNNING", async () => {
    const { t, boxId, alice } = await setUp("postgresql");
    controlFakeVagrant({ status: { delayMs: 200 } }); // the status read takes about a second: the cut lands inside it
    startRunner(t, { retry: { attempts: 8, firstDelayMs: 200, maxDelayMs: 1_000 } });
    const { vm, job } = await launch(t, alice, boxId);
    await untilStatusRuns(vmFolder(vm.id));
    const restore = await cutOff(t.url);
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await jobRow(t, job.id)) ?? "unreachable").toBe("unreachable"); // the database really was out
    await restore();
    const ended = await waitFor(async () => {
      const j = await jobRow(t, job.id);
      return j && j.state !== "RUNNING" ? j : null;
    }, 30_000);
    expect(ended.state).toBe("SUCCEEDED");
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("RUNNING");
    expect(await t.db.event.count({ where: { targetVmId: vm.id, action: "vm.create" } })).toBe(1);
    await stopRunners();
    await t.close();
  }, 60_000);

  it("an outage that outlasts the state write's retries: the job ends FAILED with a message, never stuck RUNNING", async () => {
    const { t, boxId, alice } = await setUp("postgresql");
    controlFakeVagrant({ status: { delayMs: 100 } });
    // The state write gives up after 3 tries (about 0.6 s of pauses); the job's end is tried 6 times (about 6 s).
    startRunner(t, { retry: { attempts: 3, firstDelayMs: 200, maxDelayMs: 3_200 } });
    const { vm, job } = await launch(t, alice, boxId);
    await untilStatusRuns(vmFolder(vm.id));
    const restore = await cutOff(t.url);
    await new Promise((r) => setTimeout(r, 3_000));
    await restore();
    const ended = await waitFor(async () => {
      const j = await jobRow(t, job.id);
      return j && j.state !== "RUNNING" ? j : null;
    }, 30_000);
    expect(ended.state).toBe("FAILED");
    expect(ended.message).toMatch(/^The VM's new state could not be saved \(.*not currently accepting connections.*\)\. The VM is running\.$/);
    // The VM's row missed the write; the start-up reconciliation of busy VMs without a job puts it right.
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("CREATING");
    expect(await reconcileStuckVms(t.db)).toBe(1);
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("RUNNING");
    await stopRunners();
    await t.close();
  }, 60_000);
});

describe("SQLite's write lock held by another connection between the command and the state write", () => {
  it("the state write waits out the busy timeout, is retried, and the job ends SUCCEEDED", async () => {
    const { t, boxId, alice } = await setUp("sqlite");
    controlFakeVagrant({ status: { delayMs: 100 } });
    startRunner(t, { retry: { attempts: 4, firstDelayMs: 200 } });
    const { vm, job } = await launch(t, alice, boxId);
    await untilStatusRuns(vmFolder(vm.id));
    const other = new Database(sqlitePath(t.url));
    other.exec("BEGIN EXCLUSIVE");
    const lockedAt = Date.now();
    // Held past the app's 5 s busy timeout: the first write fails with SQLITE_BUSY.
    await new Promise((r) => setTimeout(r, 7_000));
    other.exec("COMMIT");
    other.close();
    const ended = await waitFor(async () => {
      const j = await jobRow(t, job.id);
      return j && j.state !== "RUNNING" ? j : null;
    }, 30_000);
    expect(Date.now() - lockedAt).toBeGreaterThanOrEqual(7_000);
    expect(ended.state).toBe("SUCCEEDED");
    expect((await t.db.vm.findUniqueOrThrow({ where: { id: vm.id } })).state).toBe("RUNNING");
    expect(path.basename(vmFolder(vm.id))).toBe(vm.id);
    await stopRunners();
    await t.close();
  }, 60_000);
});
