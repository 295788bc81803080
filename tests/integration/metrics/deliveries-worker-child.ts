// A background process for deliveries.test.ts: runs only the alert delivery
// worker (src/server/metrics/alerts/deliveries.ts) on its own database client,
// with short retry delays, until the test stops it with a signal. SIGTERM stops
// it gracefully; SIGKILL is a crash.
import { createDatabaseClient } from "../../../src/server/db/client";
import { startDeliveries } from "../../../src/server/metrics/alerts/deliveries";

const [url] = process.argv.slice(2);
if (!url) throw new Error("usage: deliveries-worker-child.ts <database url>");
const db = createDatabaseClient(url);
// The receivers listen on loopback, which only allowPrivate lets through.
const worker = startDeliveries(db, { pollMs: 100, baseDelayMs: 400, timeoutMs: 3000, allowPrivate: true });
process.stdout.write("started\n");
process.once("SIGTERM", () => {
  void worker
    .stop()
    .then(() => db.$disconnect())
    .then(() => process.exit(0));
});
