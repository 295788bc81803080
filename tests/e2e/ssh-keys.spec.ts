import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, test } from "./support/fixtures";
import { localApp, type E2EApp } from "./support/apps";
import { signIn, withDb } from "./support/session";

// The SSH keys page on a phone-sized screen, with a key pair ssh-keygen makes
// for this run. E2E_KEYS_APP (JSON of an E2EApp) points the spec at another instance.
const app: E2EApp = process.env.E2E_KEYS_APP ? (JSON.parse(process.env.E2E_KEYS_APP) as E2EApp) : localApp;
const USER = "keys-user@example.com";

let dir: string;
let publicKey: string, privateKey: string, fingerprint: string;

test.beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "twarga-e2e-keys-"));
  const file = path.join(dir, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "e2e-laptop", "-f", file]);
  publicKey = readFileSync(`${file}.pub`, "utf8");
  privateKey = readFileSync(file, "utf8");
  fingerprint = execFileSync("ssh-keygen", ["-lf", `${file}.pub`], { encoding: "utf8" }).split(" ")[1]!;
});
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.describe.serial("SSH keys", () => {
  test("add a key on a phone, see its fingerprint, have a private key refused, remove the key", async ({ page }) => {
    await page.setViewportSize({ width: 375, height: 800 });
    await signIn(page, app, USER);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys" }).click();
    await expect(page).toHaveURL(/\/settings\/keys$/);
    await expect(page.getByText("Running VMs get changes within a minute")).toBeVisible();
    await expect(page.getByTestId("ssh-key-row")).toHaveCount(0);

    await page.getByTestId("ssh-key-label-input").fill("my laptop");
    await page.getByTestId("ssh-key-input").fill(publicKey);
    await page.getByTestId("ssh-key-add").click();
    await expect(page.getByTestId("ssh-key-row")).toHaveCount(1);
    const row = page.getByTestId("ssh-key-row").first();
    await expect(row).toContainText("my laptop");
    await expect(row).toContainText("ED25519 · 256 bits");
    await expect(row).toContainText("last used: not tracked");
    await expect(row.getByTestId("ssh-key-fingerprint")).toHaveText(fingerprint);
    await expect(page.getByTestId("ssh-key-input")).toHaveValue("");
    // The fingerprint wraps: nothing overflows the phone's width.
    expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);

    // The same key again is refused with a message, and nothing is added.
    await page.getByTestId("ssh-key-input").fill(publicKey);
    await page.getByTestId("ssh-key-add").click();
    await expect(page.getByTestId("ssh-key-error")).toContainText("You already added this key");

    // A private key pasted by mistake: refused, with the warning, and not stored.
    await page.getByTestId("ssh-key-input").fill(privateKey);
    await page.getByTestId("ssh-key-add").click();
    const error = page.getByTestId("ssh-key-error");
    await expect(error).toContainText("This is a PRIVATE key");
    await expect(error).toContainText("It was not stored");
    await expect(error).toContainText("treat it as exposed");
    await expect(page.getByTestId("ssh-key-row")).toHaveCount(1);
    const stored = withDb(app, (db) => db.prepare(`SELECT publicKey FROM SshKey k JOIN User u ON u.id = k.userId WHERE u.email = ?`).all(USER)) as Array<{
      publicKey: string;
    }>;
    expect(stored).toEqual([{ publicKey: publicKey.trim().split(" ").slice(0, 2).join(" ") }]);

    // Remove asks first; Cancel keeps the key.
    await row.getByTestId("ssh-key-remove").click();
    await page.getByRole("button", { name: "Cancel" }).click();
    await expect(page.getByTestId("ssh-key-row")).toHaveCount(1);
    await row.getByTestId("ssh-key-remove").click();
    await page.getByTestId("ssh-key-remove-confirm").click();
    await expect(page.getByTestId("ssh-key-row")).toHaveCount(0);
    await expect(page.getByTestId("ssh-keys-empty")).toBeVisible();

    const events = withDb(app, (db) =>
      db.prepare(`SELECT type, action FROM Event WHERE actorEmail = ? AND action LIKE 'sshkey.%' ORDER BY createdAt, id`).all(USER),
    );
    expect(events).toEqual([
      { type: "ssh", action: "sshkey.add" },
      { type: "ssh", action: "sshkey.remove" },
    ]);
  });
});
