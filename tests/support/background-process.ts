// An app process without the HTTP server: the same start-up `next start` runs
// (src/server/start.ts: settings, migrations, background services unless
// BACKGROUND_SERVICES=false), configured by its environment. Tests start several
// with child_process.fork (`--import tsx`) on one database and drive them over
// IPC: { cmd: "collectNow", id } runs the collect-now procedure's code in this
// process and answers { type: "collected", id, ... }.
import { startServer } from "../../src/server/start";

type Command = { cmd: "collectNow"; id: number };

await startServer();
process.send?.({ type: "started", pid: process.pid });

process.on("message", (message: Command) => {
  if (message?.cmd !== "collectNow") return;
  void (async () => {
    const { db } = await import("../../src/server/db");
    const { collectNow } = await import("../../src/server/metrics/sampler");
    try {
      const r = await collectNow(db);
      process.send?.({ type: "collected", id: message.id, ts: r.ts, written: r.written, sources: r.readings.map((x) => x.source) });
    } catch (err) {
      process.send?.({ type: "collected", id: message.id, error: err instanceof Error ? err.message : String(err) });
    }
  })();
});

// The test ends a child with a signal; an IPC channel closed by the parent ends it too.
process.on("disconnect", () => process.exit(0));
