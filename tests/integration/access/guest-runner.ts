// The set-up shared by the tests that start VMs for real through the job
// runner, the stand-in vagrant and its stand-in guests (guest-access,
// key-sync): one test database per file with the stand-in's box, a running
// VmJobRunner, and a counter for unique VM names and e-mail addresses.
// Call guestRunnerWorld() at the top level of a test file (it registers the
// file's beforeAll/afterAll hooks); db and runner are there from beforeAll on.
import { makeUser, noRequest, testDbProvider, tinyBox } from "../vms/harness";
import { afterAll, beforeAll } from "vitest";
import { createTestDb, type TestDb } from "../../support/db";
import type { Vm } from "~/generated/prisma/sqlite/client";
import type { Db } from "~/server/db/client";
import type { Actor } from "~/server/permissions";
import { createVm } from "~/server/vms/lifecycle";
import { VmJobRunner } from "~/server/vms/runner";

export interface GuestRunnerWorld {
  readonly db: Db;
  readonly runner: VmJobRunner;
  /** The next number of the file's counter (VM names and e-mail addresses). */
  next(): number;
  /** The counter's current value, without moving it. */
  readonly n: number;
  /** A user with the address `<name><next()>@example.com`. */
  user(name: string): Promise<Actor>;
  /** Creates a VM of the actor on the stand-in's box (named `<prefix>-<next()>`), waits until the runner is idle, and returns the VM's row. */
  launch(actor: Actor): Promise<Vm>;
}

export function guestRunnerWorld(namePrefix: string): GuestRunnerWorld {
  let t: TestDb;
  let runner: VmJobRunner;
  let boxId: string;
  let n = 0;
  beforeAll(async () => {
    t = await createTestDb({ provider: testDbProvider });
    boxId = (await tinyBox(t.db)).id;
    runner = new VmJobRunner(t.db, { pollMs: 50 }).start();
  });
  afterAll(async () => {
    await runner.stop();
    await t.close();
  });
  const world: GuestRunnerWorld = {
    get db() {
      return t.db;
    },
    get runner() {
      return runner;
    },
    get n() {
      return n;
    },
    next: () => ++n,
    user: (name) => makeUser(t.db, `${name}${world.next()}@example.com`),
    async launch(actor) {
      const { vm } = await createVm(t.db, actor, { name: `${namePrefix}-${world.next()}`, boxId, cpus: 1, ramMb: 512, diskGb: 10 }, noRequest);
      await runner.idle();
      return t.db.vm.findUniqueOrThrow({ where: { id: vm.id } });
    },
  };
  return world;
}
