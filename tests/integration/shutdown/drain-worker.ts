// A process for drain.test.ts: a stand-in for Next's own signal handler (it
// exits at once with 128 + the signal, as `next start` does) is registered
// first, then the app's drain takes the signals over. The drain takes
// DRAIN_MS; every step is printed so the test can see the order.
import { installShutdownHandlers } from "../../../src/server/shutdown";

const drainMs = Number(process.argv[2] ?? 1000);
const limitMs = Number(process.argv[3] ?? 60_000);
const say = (line: string) => process.stdout.write(`${line} ${Date.now()}\n`);

process.on("SIGTERM", () => {
  say("next-handler");
  process.exit(143);
});
installShutdownHandlers({
  drain: async () => {
    say("drain-start");
    await new Promise((r) => setTimeout(r, drainMs));
    say("drain-end");
  },
  limitMs,
  log: () => {},
});
setInterval(() => {}, 60_000);
say("ready");
