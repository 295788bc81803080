import { writeFileSync } from "node:fs";
import path from "node:path";
import { expect, test } from "./support/fixtures";
import { localApp, type E2EApp } from "./support/apps";
import { signIn, withDb } from "./support/session";

// The VM pages against the stand-in vagrant. The app must run with
// VAGRANT_BIN=<repo>/tests/support/fake-vagrant/vagrant and VM_DRIVER=qemu;
// E2E_VMS_APP (JSON of an E2EApp) points the spec at another instance.
const app: E2EApp = process.env.E2E_VMS_APP ? (JSON.parse(process.env.E2E_VMS_APP) as E2EApp) : localApp;

test.describe.serial("VMs", () => {
  test.skip(!app.env.VAGRANT_BIN?.includes("fake-vagrant"), "the app under test is not using the stand-in vagrant");

  test("launch with a live cost, watch the job, copy ssh, destroy by typing the name", async ({ page }) => {
    await page.setViewportSize({ width: 375, height: 800 });
    await signIn(page, app, "vm-user@example.com");
    await page.goto(`${app.url}/vms`);
    await expect(page.getByText("No VMs yet.")).toBeVisible();
    await page.getByTestId("launch-link").click();
    await page.getByTestId("launch-name").fill("web-1");
    await page.getByTestId("launch-cpus").fill("2");
    await page.getByTestId("launch-ramMb").fill("2048");
    await page.getByTestId("launch-diskGb").fill("20");
    // 2 vCPU x 1 + 2 GB x 0.5 + 20 GB x 0.01 with the default prices.
    await expect(page.getByTestId("launch-cost")).toContainText("3.20 credits per hour");
    await page.getByTestId("launch-submit").click();

    await expect(page).toHaveURL(/\/vms\/[a-z0-9]+$/);
    await expect(page.getByTestId("vm-name")).toHaveText("web-1");
    await expect(page.getByTestId("job-output-text")).toContainText("Machine booted and ready!", { timeout: 30_000 });
    await expect(page.getByTestId("vm-state")).toHaveText("running");
    // One command through the VM's forwarded port on the app's host name: no key path, no host-only address.
    await expect(page.getByTestId("ssh-command")).toHaveText(/^ssh -p 22\d{3} vagrant@localhost$/);
    await expect(page.getByTestId("vm-keys-status")).toContainText("Own key: yes");
    await expect(page.getByTestId("job-history")).toContainText("create");

    await page.goto(`${app.url}/vms`);
    await expect(page.getByTestId("vm-row").filter({ visible: true })).toHaveCount(1);
    await page.getByRole("link", { name: "web-1" }).filter({ visible: true }).click();
    await expect(page).toHaveURL(/\/vms\/[a-z0-9]+$/);
    await expect(page.getByTestId("vm-name")).toHaveText("web-1");

    await page.getByTestId("vm-action-destroy").click();
    await expect(page.getByTestId("destroy-confirm")).toBeDisabled();
    await page.getByTestId("destroy-confirm-input").fill("web-1");
    await page.getByTestId("destroy-confirm").click();
    await expect(page.getByTestId("vm-state")).toHaveText("destroyed", { timeout: 30_000 });
  });

  test("a queued launch shows its place in line and is cancelled at once; a running create is cancelled and its VM is gone", async ({ page, browser }) => {
    test.setTimeout(120_000);
    // Slow creates (the stand-in reads this file beside the app's VAGRANT_HOME): the host's slots fill, the next launch waits.
    const control = path.join(app.dataDir, "fake-vagrant.json");
    writeFileSync(control, JSON.stringify({ up: { delayMs: 1500 } }));
    try {
      await signIn(page, app, "queue-user@example.com");
      const launch = async (name: string) => {
        await page.goto(`${app.url}/vms/new`);
        await page.getByTestId("launch-name").fill(name);
        await page.getByTestId("launch-submit").click();
        await expect(page).toHaveURL(/\/vms\/(?!new$)[a-z0-9]+$/);
        return page.url();
      };
      // Launches until one waits: the starting lane takes as many at once as this host's cores and memory allow
      // (2 here), and the default quota lets a user have 3 on their way up.
      const running: string[] = [];
      let waiting = "";
      for (let i = 1; i <= 3 && !waiting; i++) {
        const url = await launch(`busy-${i}`);
        await expect(page.getByTestId("job-progress")).toBeVisible();
        // The page polls the queue every 2 s: give it two rounds to say whether this one waits.
        if (
          await page
            .getByTestId("queue-place")
            .waitFor({ timeout: 5_000 })
            .then(
              () => true,
              () => false,
            )
        )
          waiting = `busy-${i}`;
        else running.push(url);
      }
      await expect(page.getByTestId("queue-position")).toHaveText("Next in line");
      await expect(page.getByTestId("queue-place")).toContainText("for creates, starts and restarts (0 ahead)");
      // An admin sees the whole queue: what runs, what waits and where, and where the limits come from.
      const admin = await (await browser.newContext()).newPage();
      await signIn(admin, app, "queue-admin@example.com");
      withDb(app, (db) => db.prepare(`UPDATE "User" SET role = 'ADMIN' WHERE email = ?`).run("queue-admin@example.com"));
      await admin.goto(`${app.url}/admin/vms`);
      await expect(admin.getByTestId("admin-queue-entry").filter({ hasText: waiting })).toContainText("start lane #1");
      await expect(admin.getByTestId("admin-queue-running").filter({ hasText: "busy-1" })).toBeVisible();
      await expect(admin.getByTestId("admin-queue-limits")).toContainText(/creates, starts and restarts \(from this host: \d+ cores/);
      // Destroy is there in every state, this one included.
      await expect(page.getByTestId("vm-action-destroy")).toBeVisible();
      await page.getByTestId("cancel-job").click();
      await expect(page.getByTestId("vm-state")).toHaveText("destroyed");
      await expect(page.getByTestId("job-history")).toContainText("cancelled");
      await expect(admin.getByTestId("admin-queue-entry").filter({ hasText: waiting })).toHaveCount(0);
      await admin.context().close();

      // A create that runs: its Vagrant is ended and what it made destroyed.
      await page.goto(running[0]!);
      await expect(page.getByTestId("job-progress")).toBeVisible();
      await expect(page.getByTestId("cancel-job")).toHaveText("Cancel create");
      await page.getByTestId("cancel-job").click();
      await expect(page.getByTestId("vm-state")).toHaveText("destroyed", { timeout: 30_000 });
      await expect(page.getByTestId("job-history")).toContainText("cancelled");
    } finally {
      writeFileSync(control, "{}");
    }
  });

  test("another user gets a 404 for that VM", async ({ page, browser }) => {
    const owner = await browser.newPage();
    await signIn(owner, app, "vm-user@example.com");
    await owner.goto(`${app.url}/vms?x=1`);
    const list = await owner.request.get(`${app.url}/api/trpc/vms.list?input=${encodeURIComponent(JSON.stringify({ json: { includeDestroyed: true } }))}`);
    const vmId = ((await list.json()).result.data.json as Array<{ id: string }>)[0]!.id;
    await owner.close();
    await signIn(page, app, "someone-else@example.org");
    const res = await page.goto(`${app.url}/vms/${vmId}`);
    expect(res?.status()).toBe(404);
  });
});
