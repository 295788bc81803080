// A separate app process for quota-claims-processes.test.ts: it opens its own
// client on the shared database and runs the app's own launch path
// (createVm) several times at once when told to. It loads everything and
// checks the host first, prints "ready", waits for a line on stdin, then
// launches; its last line is the outcome of each launch as JSON.
import "./harness";
import { once } from "node:events";
import { createDatabaseClient } from "../../../src/server/db/client";
import { assertHostReady } from "../../../src/server/vms/host-gate";
import { createVm } from "../../../src/server/vms/lifecycle";

const [url, userJson, boxId, countText, prefix] = process.argv.slice(2);
if (!url || !userJson || !boxId || !countText || !prefix)
  throw new Error("usage: quota-claims-worker.ts <database url> <actor json> <box id> <count> <name prefix>");
const db = createDatabaseClient(url);
await db.user.count();
await assertHostReady(db);
process.stdout.write("ready\n");
await once(process.stdin, "data");
const results = await Promise.allSettled(
  Array.from({ length: Number(countText) }, (_, i) => createVm(db, JSON.parse(userJson), { name: `${prefix}-${i}`, boxId, cpus: 1, ramMb: 512, diskGb: 10 })),
);
const outcome = results.map((r) =>
  r.status === "fulfilled" ? { ok: true, vmId: r.value.vm.id } : { ok: false, code: r.reason?.code, message: String(r.reason?.message) },
);
process.stdout.write(`${JSON.stringify(outcome)}\n`);
await db.$disconnect();
process.exit(0);
