// A separate app process for orphans.test.ts: the job runner on the test's
// database, with the settings the test hands down in the environment (VM_ROOT,
// VAGRANT_HOME and the stand-in vagrant). It prints "ready <lease owner>" once
// its runner has started; the test then kills it with SIGKILL mid-job, as a
// crash of the app would.
import "../../support/stand-in-host";
import { createDatabaseClient } from "../../../src/server/db/client";
import { VmJobRunner } from "../../../src/server/vms/runner";

const [url, leaseMsText] = process.argv.slice(2);
if (!url || !leaseMsText) throw new Error("usage: job-runner-worker.ts <database url> <lease ms>");
const db = createDatabaseClient(url);
await db.vmJob.count();
const runner = new VmJobRunner(db, { pollMs: 100, leaseMs: Number(leaseMsText) }).start();
process.stdout.write(`ready ${runner.leaseOwner}\n`);
setInterval(() => {}, 60_000);
