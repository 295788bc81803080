import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { type Page } from "@playwright/test";
import { expect, test } from "./support/fixtures";
import { localApp, type E2EApp } from "./support/apps";
import { signIn, withDb } from "./support/session";
import { GUEST_PROMPT, startStandInGuest, type StandInGuest } from "../integration/access/terminal-guest";

// The browser terminal on the VM page, on a phone-sized screen, against the
// stand-in vagrant. The VM's SSH side is the stand-in guest (a real shell on a
// real PTY behind ssh2's server) started here, accepting only the VM's own key;
// the VM row is pointed at it. The real guest is exercised by tests/real-vms.
// E2E_TERMINAL_APP (JSON of an E2EApp) points the spec at another instance.
const app: E2EApp = process.env.E2E_TERMINAL_APP ? (JSON.parse(process.env.E2E_TERMINAL_APP) as E2EApp) : localApp;
const OWNER = "term-owner@example.com";
const OTHER = "term-other@example.com";
const VM_NAME = "term-1";

let guest: StandInGuest | null = null;
let vmId = "";

const setRole = (email: string, role: "USER" | "ADMIN") => withDb(app, (db) => db.prepare(`UPDATE "User" SET role = ? WHERE email = ?`).run(role, email));
const rows = (page: Page) => page.getByTestId("terminal").locator(".xterm-rows");

/** The VM's own key: made by the app at launch; made here if this build does not yet. */
function vmPublicKey(id: string): string {
  const dir = path.join(app.dataDir, "vms", id, "access");
  const key = path.join(dir, "id_ed25519");
  if (!existsSync(key)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `twarga-vm-${id}`, "-f", key]);
  }
  return readFileSync(`${key}.pub`, "utf8");
}

/** Types into the terminal as a person would (xterm listens on its own hidden textarea). */
async function typeLine(page: Page, text: string) {
  await page.getByTestId("terminal").click();
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
}

test.describe.serial("browser terminal", () => {
  test.skip(!app.env.VAGRANT_BIN?.includes("fake-vagrant"), "the app under test is not using the stand-in vagrant");

  test.afterAll(async () => {
    await guest?.close();
  });

  test("the owner gets a shell that runs commands, with the key bar, copy and paste, resizing and a reconnect", async ({ page, context }) => {
    await page.setViewportSize({ width: 375, height: 800 });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: app.url });
    await signIn(page, app, OWNER);
    setRole(OWNER, "USER");
    await page.goto(`${app.url}/vms/new`);
    await page.getByTestId("launch-name").fill(VM_NAME);
    await page.getByTestId("launch-cpus").fill("1");
    await page.getByTestId("launch-ramMb").fill("512");
    await page.getByTestId("launch-diskGb").fill("10");
    await page.getByTestId("launch-submit").click();
    await expect(page).toHaveURL(/\/vms\/[a-z0-9]+$/);
    await expect(page.getByTestId("vm-state")).toHaveText("running", { timeout: 30_000 });
    vmId = new URL(page.url()).pathname.split("/").at(-1)!;

    guest = await startStandInGuest({ authorizedKeys: [vmPublicKey(vmId)] });
    withDb(app, (db) => db.prepare(`UPDATE "Vm" SET ipAddress = '127.0.0.1', sshPort = ?, sshUser = 'vagrant' WHERE id = ?`).run(guest!.port, vmId));
    await page.reload();

    await page.getByTestId("terminal-open").click();
    await expect(page.getByTestId("terminal-status")).toHaveText("connected");
    await expect(rows(page)).toContainText(GUEST_PROMPT);
    await typeLine(page, "echo $((6*7))");
    await expect(rows(page)).toContainText("42");
    const opened = guest.windows[0]!;
    expect(opened.term).toBe("xterm-256color");
    expect(opened.cols).toBeGreaterThan(20);
    expect(opened.cols).toBeLessThan(60);

    // Tab completes, the arrows move, Ctrl is sticky for one key, Esc is sent as is.
    await page.getByTestId("terminal").click();
    await page.keyboard.type("ech");
    await page.getByTestId("terminal-key-tab").click();
    await page.keyboard.type("tab-$((1+1))");
    await page.keyboard.press("Enter");
    await expect(rows(page)).toContainText("tab-2");
    await page.keyboard.type("echo abc");
    await page.getByTestId("terminal-key-left").click();
    await page.getByTestId("terminal-key-left").click();
    await page.keyboard.type("X");
    await page.keyboard.press("Enter");
    await expect(rows(page)).toContainText("aXbc");
    await page.getByTestId("terminal-key-up").click();
    await page.getByTestId("terminal-key-left").click();
    await page.keyboard.type("Y");
    await page.keyboard.press("Enter");
    await expect(rows(page)).toContainText("aXbYc");
    await typeLine(page, "sleep 60");
    await page.getByTestId("terminal-key-ctrl").click();
    await page.keyboard.type("c");
    await typeLine(page, "echo after-$((2+2))");
    await expect(rows(page)).toContainText("after-4", { timeout: 10_000 });
    await page.getByTestId("terminal").click();
    await page.keyboard.type("echo esc");
    await page.getByTestId("terminal-key-esc").click();
    // Esc then Backspace deletes the word before the cursor in bash's emacs mode.
    await page.keyboard.press("Backspace");
    await page.keyboard.type("done-$((3+4))");
    await page.keyboard.press("Enter");
    await expect(rows(page)).toContainText("done-7");

    // Paste from the clipboard, then copy a word selected with a double click.
    await page.evaluate(() => navigator.clipboard.writeText("echo pasted-$((3*3))"));
    await page.getByTestId("terminal-paste").click();
    await page.keyboard.press("Enter");
    await expect(rows(page)).toContainText("pasted-9");
    const word = rows(page)
      .locator("div")
      .filter({ hasText: /^pasted-9\s*$/ })
      .last()
      .locator("span")
      .first();
    // Mid-window, clear of the sticky page header; xterm's screen layer takes
    // the mouse over its rows, so the double click goes to the word's place.
    await word.evaluate((el) => el.scrollIntoView({ block: "center" }));
    const box = (await word.boundingBox())!;
    await page.mouse.dblclick(box.x + box.width / 2, box.y + box.height / 2);
    await page.getByTestId("terminal-copy").click();
    await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe("pasted-9");

    // A wider window: the terminal fits itself and tells the guest.
    await page.setViewportSize({ width: 1200, height: 800 });
    await expect.poll(() => guest!.windows.at(-1)!.cols).toBeGreaterThan(opened.cols + 40);

    // A network blip: input typed meanwhile is retried and the stream resumes where it was.
    await context.setOffline(true);
    await page.waitForTimeout(1500);
    await typeLine(page, "echo blip-$((5*5))");
    await context.setOffline(false);
    await expect(rows(page)).toContainText("blip-25", { timeout: 15_000 });
    await expect(page.getByTestId("terminal-status")).toHaveText("connected", { timeout: 15_000 });
    expect(guest.shellsStarted()).toBe(1);

    // Closing ends the shell on the guest and is recorded with its duration; nothing typed is.
    await page.getByTestId("terminal-close").click();
    await expect(page.getByTestId("terminal-status")).toHaveText("closed: closed by you");
    await expect.poll(() => guest!.shellsRunning()).toBe(0);
    await expect
      .poll(() =>
        withDb(app, (db) =>
          db.prepare(`SELECT action, details FROM "Event" WHERE targetVmId = ? AND action LIKE 'vm.terminal.%' ORDER BY createdAt`).all(vmId),
        ),
      )
      .toEqual([
        { action: "vm.terminal.open", details: expect.any(String) },
        { action: "vm.terminal.close", details: expect.stringMatching(/"durationS":\d+.*"reason":"closed by you"/) },
      ]);
    const events = JSON.stringify(withDb(app, (db) => db.prepare(`SELECT * FROM "Event"`).all()));
    expect(events).not.toContain("pasted-");
    expect(events).not.toContain("blip-");
  });

  test("another user is told the VM does not exist, as for a missing one", async ({ page }) => {
    test.skip(!vmId, "needs the VM of the first test");
    await signIn(page, app, OTHER);
    setRole(OTHER, "USER");
    const body = (id: string) => ({ data: { vmId: id, cols: 80, rows: 24 }, headers: { "content-type": "application/json" } });
    const theirs = await page.request.post(`${app.url}/api/terminal`, body(vmId));
    const missing = await page.request.post(`${app.url}/api/terminal`, body("cmissingvmid0000000000000"));
    expect(theirs.status()).toBe(404);
    expect(await theirs.json()).toEqual(await missing.json());
    const res = await page.goto(`${app.url}/vms/${vmId}`);
    expect(res?.status()).toBe(404);
    await expect(page.getByTestId("terminal-open")).toHaveCount(0);
    expect(guest!.shellsStarted()).toBe(1);
  });

  test("stopping the VM closes an open terminal with a message", async ({ page }) => {
    test.skip(!vmId, "needs the VM of the first test");
    await page.setViewportSize({ width: 375, height: 800 });
    await signIn(page, app, OWNER);
    await page.goto(`${app.url}/vms/${vmId}`);
    await page.getByTestId("terminal-open").click();
    await expect(page.getByTestId("terminal-status")).toHaveText("connected");
    await expect(rows(page)).toContainText(GUEST_PROMPT);
    await page.getByTestId("vm-action-stop").click();
    await expect(page.getByTestId("terminal-status")).toHaveText(new RegExp(`^closed: ${VM_NAME} (is stopping|stopped)$`), { timeout: 15_000 });
    await expect.poll(() => guest!.shellsRunning()).toBe(0);
    await expect(page.getByTestId("vm-state")).toHaveText("stopped", { timeout: 30_000 });
    await expect(page.getByTestId("terminal-open")).toHaveCount(0);
  });
});
