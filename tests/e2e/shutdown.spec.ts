// SIGTERM against a real `next start` of the production build: the app's drain
// (src/server/shutdown.ts) holds Next's own exit until running VM operations
// finish, or until SHUTDOWN_GRACE_S has passed, when they are stopped and
// recorded interrupted. This spec starts its own server (own port, data folder
// and stand-in vagrant), launches a slow create through the UI, signals the
// process and reads the outcome from the app's database.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { execa, type ResultPromise } from "execa";
import { expect, test } from "./support/fixtures";
import { e2eApp, type E2EApp } from "./support/apps";
import { signIn, withDb } from "./support/session";

const ROOT = path.resolve(import.meta.dirname, "../..");
const OFFSET = Number(process.env.E2E_PORT_OFFSET ?? 0);

function shutdownApp(graceS: number): E2EApp {
  return e2eApp("shutdown", 3400 + OFFSET, {
    VAGRANT_BIN: path.join(ROOT, "tests/support/fake-vagrant/vagrant"),
    VM_DRIVER: "qemu",
    LIBVIRT_URI: "test:///default",
    VM_STATE_FROM_LIBVIRT: "false",
    LOCAL_IDP: "on",
    LOCAL_IDP_PORT: String(3401 + OFFSET),
    AUTH_ALLOWED_DOMAINS: "example.com",
    SHUTDOWN_GRACE_S: String(graceS),
    // No forwarded SSH ports: the other app instances of the browser tests listen on that range.
    VM_SSH_PORT_RANGE: "off",
  });
}

/** The stand-in reads its control file beside VAGRANT_HOME (<DATA_DIR>/vagrant.d). */
function controlVagrant(app: E2EApp, control: Record<string, unknown>) {
  mkdirSync(app.dataDir, { recursive: true });
  writeFileSync(path.join(app.dataDir, "fake-vagrant.json"), JSON.stringify(control));
}

let server: ResultPromise | null = null;

/** Starts `next start` and resolves once it answers (wrapped: a returned subprocess would be awaited to its exit). */
async function startServer(app: E2EApp): Promise<{ process: ResultPromise }> {
  const s = execa(process.execPath, ["node_modules/next/dist/bin/next", "start"], { cwd: ROOT, env: app.env, reject: false, all: true });
  server = s;
  for (const until = Date.now() + 90_000; Date.now() < until;) {
    if (s.exitCode !== null) throw new Error(`next start exited early:\n${(await s).all}`);
    const up = await fetch(`${app.url}/api/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { process: s };
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("next start did not answer within 90 s");
}

test.afterEach(async ({}, testInfo) => {
  server?.kill("SIGKILL");
  const result = await server;
  server = null;
  if (result && testInfo.status !== testInfo.expectedStatus) writeFileSync(testInfo.outputPath("next-start.log"), String(result.all ?? ""));
});

/** Launches a VM from the UI and returns its id once its create job runs. */
async function launchAndWaitForRunning(page: import("@playwright/test").Page, app: E2EApp, name: string): Promise<string> {
  await page.goto(`${app.url}/vms`);
  await page.getByTestId("launch-link").click();
  await page.getByTestId("launch-name").fill(name);
  await page.getByTestId("launch-submit").click();
  await expect(page).toHaveURL(/\/vms\/[a-z0-9]+/);
  await expect(page.getByTestId("job-output-text")).toContainText("Creating domain", { timeout: 30_000 });
  return (withDb(app, (db) => db.prepare(`SELECT id FROM "Vm" WHERE name = ?`).get(name)) as { id: string }).id;
}

const jobOf = (app: E2EApp, vmId: string) =>
  withDb(app, (db) => db.prepare(`SELECT state, message FROM "VmJob" WHERE "vmId" = ? ORDER BY "createdAt" DESC`).all(vmId)) as Array<{
    state: string;
    message: string;
  }>;
const vmStateOf = (app: E2EApp, vmId: string) => (withDb(app, (db) => db.prepare(`SELECT state FROM "Vm" WHERE id = ?`).get(vmId)) as { state: string }).state;

test.describe.serial("shutdown drain", () => {
  test("SIGTERM lets a running create finish before the process exits", async ({ page }) => {
    const app = shutdownApp(60);
    // About 20 lines of output 400 ms apart: the create is still running when the signal comes.
    controlVagrant(app, { up: { delayMs: 400 } });
    const { process: s } = await startServer(app);
    await signIn(page, app, "drain@example.com");
    const vmId = await launchAndWaitForRunning(page, app, "drain-1");
    await page.close(); // nothing polls the server while it goes down
    expect(jobOf(app, vmId)[0]!.state).toBe("RUNNING");

    const signalledAt = Date.now();
    process.kill(s.pid!, "SIGTERM"); // not execa's kill(): it adds a SIGKILL 5 s later
    // Next's own handler alone would exit at once; the drain holds it.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(s.exitCode).toBeNull();
    const result = await s;
    const tookMs = Date.now() - signalledAt;
    test.info().annotations.push({ type: "SIGTERM to exit", description: `${tookMs} ms (the create finished meanwhile)` });
    expect(result.all).toContain("SIGTERM: stopping background services");
    expect(result.all).toContain("background services stopped");
    expect(tookMs).toBeLessThan(60_000);
    // Next's handler ran last: it exits with 128 + SIGTERM.
    expect(result.exitCode).toBe(143);
    const [job] = jobOf(app, vmId);
    expect(job!.state).toBe("SUCCEEDED");
    expect(vmStateOf(app, vmId)).toBe("RUNNING");
  });

  test("an operation still running after SHUTDOWN_GRACE_S is stopped and recorded interrupted, then the process exits", async ({ page }) => {
    const app = shutdownApp(3);
    controlVagrant(app, { up: { hang: true } });
    const { process: s } = await startServer(app);
    await signIn(page, app, "drain@example.com");
    const vmId = await launchAndWaitForRunning(page, app, "drain-2");
    const pidsFile = path.join(app.dataDir, "vms", vmId, ".vagrant/fake-hang.pids");
    await expect.poll(() => existsSync(pidsFile), { timeout: 15_000 }).toBe(true);
    const pids = readFileSync(pidsFile, "utf8").trim().split("\n").map(Number);
    await page.close();

    const signalledAt = Date.now();
    process.kill(s.pid!, "SIGTERM"); // not execa's kill(): it adds a SIGKILL 5 s later
    const result = await s;
    const tookMs = Date.now() - signalledAt;
    test.info().annotations.push({ type: "SIGTERM to exit", description: `${tookMs} ms (grace 3 s)` });
    expect(tookMs).toBeGreaterThanOrEqual(3_000);
    expect(tookMs).toBeLessThan(40_000);
    expect(result.all).toContain("still running after 3 s: stopping them");
    expect(result.exitCode).toBe(143);
    const [job] = jobOf(app, vmId);
    expect(job!.state).toBe("INTERRUPTED");
    expect(job!.message).toContain("The app is shutting down; the operation was stopped.");
    // Its vagrant and the child it started went with it.
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
      } catch {
        return false;
      }
    };
    await expect.poll(() => pids.some(alive), { timeout: 10_000 }).toBe(false);
  });
});
