// The shutdown drain in a real process with real signals: Next's handler (a
// stand-in that exits at once, as `next start`'s does) runs only after the
// drain, the drain is cut at its limit, and a second signal exits at once.
// tests/e2e/shutdown.spec.ts does the same against a real `next start`.
import path from "node:path";
import { execa, type ResultPromise } from "execa";
import { describe, expect, it } from "vitest";

const WORKER = path.join(import.meta.dirname, "drain-worker.ts");

async function started(drainMs: number, limitMs: number): Promise<{ child: ResultPromise }> {
  const child = execa(process.execPath, ["--import", "tsx", WORKER, String(drainMs), String(limitMs)], { reject: false });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("ready") && resolve());
    void child.then((r) => reject(new Error(`the worker exited early: ${r.stderr}`)));
  });
  return { child };
}

const steps = (stdout: string) =>
  stdout
    .trim()
    .split("\n")
    .map((l) => l.split(" ") as [string, string]);

describe("shutdown drain", () => {
  it("SIGTERM: the drain runs to its end, then Next's handler exits with 143", async () => {
    const { child } = await started(1500, 60_000);
    const sentAt = Date.now();
    process.kill(child.pid!, "SIGTERM"); // not execa's kill(): it adds a SIGKILL 5 s later
    const r = await child;
    expect(r.exitCode).toBe(143);
    const s = steps(String(r.stdout));
    expect(s.map(([name]) => name)).toEqual(["ready", "drain-start", "drain-end", "next-handler"]);
    expect(Number(s[3]![1]) - sentAt).toBeGreaterThanOrEqual(1500);
  }, 30_000);

  it("a drain longer than its limit is cut there", async () => {
    const { child } = await started(60_000, 1000);
    const sentAt = Date.now();
    process.kill(child.pid!, "SIGTERM"); // not execa's kill(): it adds a SIGKILL 5 s later
    const r = await child;
    expect(r.exitCode).toBe(143);
    expect(steps(String(r.stdout)).map(([name]) => name)).toEqual(["ready", "drain-start", "next-handler"]);
    expect(Date.now() - sentAt).toBeLessThan(10_000);
  }, 30_000);

  it("a second signal during the drain exits at once", async () => {
    const { child } = await started(60_000, 60_000);
    process.kill(child.pid!, "SIGTERM"); // not execa's kill(): it adds a SIGKILL 5 s later
    await new Promise((r) => setTimeout(r, 300));
    const sentAt = Date.now();
    process.kill(child.pid!, "SIGTERM"); // not execa's kill(): it adds a SIGKILL 5 s later
    const r = await child;
    expect(r.exitCode).toBe(143);
    expect(steps(String(r.stdout)).map(([name]) => name)).toEqual(["ready", "drain-start"]);
    expect(Date.now() - sentAt).toBeLessThan(5_000);
  }, 30_000);
});
