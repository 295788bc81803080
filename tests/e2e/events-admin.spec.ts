import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect, test } from "./support/fixtures";
import { localApp, type E2EApp } from "./support/apps";
import { signIn, withDb } from "./support/session";

// The event feed and the admin console in a browser, on a phone-sized screen.
// E2E_EVENTS_APP (JSON of an E2EApp) points the spec at another instance.
const app: E2EApp = process.env.E2E_EVENTS_APP ? (JSON.parse(process.env.E2E_EVENTS_APP) as E2EApp) : localApp;
const ADMIN = "events-admin@example.com";
const USER = "events-user@example.com";

// Whoever signs in first on a fresh app becomes admin; set the roles this spec needs.
const setRole = (email: string, role: "USER" | "ADMIN") => withDb(app, (db) => db.prepare(`UPDATE "User" SET role = ? WHERE email = ?`).run(role, email));
const makeAdmin = (email: string) => setRole(email, "ADMIN");

test.describe.serial("events and admin console", () => {
  test("a user sees only their own events; the admin console is refused to them", async ({ page }) => {
    await page.setViewportSize({ width: 375, height: 800 });
    await signIn(page, app, USER);
    setRole(USER, "USER");
    await page.goto(`${app.url}/events`);
    await expect(page.getByTestId("event-row").first()).toContainText(`${USER} signed in`);
    await expect(page.getByTestId("event-list")).not.toContainText(ADMIN);
    const res = await page.goto(`${app.url}/admin`);
    expect(res?.status()).toBe(403);
    const csv = await (await page.request.get(`${app.url}/api/events/export?format=csv`)).text();
    expect(csv.split("\r\n")[0]).toMatch(/^id,createdAt,type,action,severity/);
    expect(csv).toContain(`${USER} signed in`);
    expect(csv).not.toContain(ADMIN);
    // Taking the log out is itself in the log, with who and from where.
    const recorded = withDb(app, (db) =>
      db.prepare(`SELECT type, sourceIp, message FROM Event WHERE action = 'events.export' AND actorEmail = ?`).all(USER),
    ) as Array<{ type: string; sourceIp: string | null; message: string }>;
    expect(recorded).toEqual([{ type: "auth", sourceIp: expect.any(String), message: `${USER} exported the event feed as CSV.` }]);
  });

  test("the admin's feed filters through the URL, shows details, and updates live", async ({ page, browser }) => {
    await page.setViewportSize({ width: 375, height: 800 });
    await signIn(page, app, ADMIN);
    makeAdmin(ADMIN);
    await page.goto(`${app.url}/events`);
    await page.getByLabel("Type").selectOption("auth");
    await expect(page).toHaveURL(/[?&]type=auth/);
    await page.getByLabel("Search").fill(USER);
    await page.getByRole("button", { name: "Filter" }).click();
    await expect(page).toHaveURL(/q=events-user%40example\.com/);
    // Newest first: the user's export (an auth event too) sits above the sign-in.
    await expect(page.getByTestId("event-row").first()).toContainText(`${USER} exported the event feed as CSV.`);
    const signedIn = page
      .getByTestId("event-row")
      .filter({ hasText: `${USER} signed in` })
      .first();
    await signedIn.getByRole("button").click();
    await expect(page.getByTestId("event-json")).toContainText('"provider"');
    await expect(page.getByTestId("export-jsonl")).toHaveAttribute("href", /format=jsonl.*type=auth/);

    // the user signs in again elsewhere: the new event appears without a reload
    const before = await page.getByTestId("event-row").count();
    const other = await browser.newPage();
    await signIn(other, app, USER);
    await other.close();
    await expect(page.getByTestId("event-row")).toHaveCount(before + 1, { timeout: 15_000 });
  });

  test("disabling a user from the console ends their session at once and is audited", async ({ page, browser }) => {
    const userPage = await browser.newPage();
    await signIn(userPage, app, USER);
    await page.setViewportSize({ width: 375, height: 800 });
    await signIn(page, app, ADMIN);
    makeAdmin(ADMIN);
    await page.goto(`${app.url}/admin`);
    await page.getByTestId("user-search").fill(USER);
    const row = page.getByTestId("admin-users").locator("li").filter({ hasText: USER });
    await expect(row).toHaveCount(1);
    await row.getByRole("button", { name: "Disable" }).click();
    await expect(row).toContainText("disabled");
    await userPage.goto(`${app.url}/events`);
    await expect(userPage).toHaveURL(/\/signin/);
    await userPage.close();

    await page.goto(`${app.url}/admin/audit`);
    await expect(page.getByTestId("audit-log")).toContainText("admin.setDisabled");
    await page.goto(`${app.url}/admin/health`);
    await expect(page.getByTestId("health-tile").first()).toContainText("reachable");
    await page.goto(`${app.url}/admin`);
    const again = page.getByTestId("admin-users").locator("li").filter({ hasText: USER });
    await again.getByRole("button", { name: "Enable" }).click();
    await expect(again).not.toContainText("disabled");
  });

  test("an admin installs a box from a file on the host and follows it to the end; a relative path is refused before anything runs", async ({ page }) => {
    await page.setViewportSize({ width: 375, height: 800 });
    await signIn(page, app, ADMIN);
    makeAdmin(ADMIN);
    // A file on the host, readable by the app (the stand-in vagrant copies it into the app's VAGRANT_HOME).
    const boxFile = path.join(app.dataDir, "uploads", "e2e-upload.box");
    mkdirSync(path.dirname(boxFile), { recursive: true });
    writeFileSync(boxFile, "a stand-in box image\n");
    // The stand-in reports its two built-in boxes while VAGRANT_HOME/boxes does not exist, and the folder's contents
    // once it does: lay them out first, so the add changes nothing else the later specs see.
    for (const name of ["local-VAGRANTSLASH-debian12", "local-VAGRANTSLASH-tiny"])
      mkdirSync(path.join(app.dataDir, "vagrant.d", "boxes", name, "0", "libvirt"), { recursive: true });
    await page.goto(`${app.url}/admin/catalog`);
    const adds = page.getByTestId("box-adds");
    await adds.getByLabel("Absolute path of the .box file").fill("uploads/e2e-upload.box");
    await adds.getByLabel("Vagrant box name").fill("e2e/from-file");
    await adds.getByRole("button", { name: "Install" }).click();
    await expect(adds.getByRole("alert")).toHaveText("The box file's path must be absolute.");
    await expect(adds.getByTestId("box-add")).toHaveCount(0);

    await adds.getByLabel("Absolute path of the .box file").fill(boxFile);
    await adds.getByRole("button", { name: "Install" }).click();
    const row = adds.getByTestId("box-add").filter({ hasText: "e2e/from-file" });
    await expect(row).toContainText(`by ${ADMIN}`);
    await expect(row).toContainText("added", { timeout: 30_000 });
    await expect(adds.getByRole("alert")).toHaveCount(0);
    await page.goto(`${app.url}/admin/audit`);
    await expect(page.getByTestId("audit-log")).toContainText("admin.boxAdd");
  });
});
