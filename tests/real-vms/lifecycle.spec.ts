// The whole VM lifecycle in the browser, on the real hypervisor, against the
// app the README's quick start serves (tests/real-vms/run.sh starts it from a
// clean checkout): the real vagrant, vagrant-libvirt, libvirt and QEMU
// (software emulation here) with the box the quick start built. Two team
// members, each with their own VM and their own SSH key. What the page says
// is checked against the host (virsh, the VM folders) and against the guests
// themselves (ssh from "their laptop": the command the page shows, their key).
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { expect, test, type Browser, type Page } from "@playwright/test";
import { execa } from "execa";
import { signIn } from "../e2e/support/session";
import { realVmApp as app } from "./app";
import { domainState, guestAddress, guestNetwork, leftovers, LIBVIRTD_PID_FILE, networks, newUserKey, sshWith, vagrantUpPids } from "./host";

const BOX_LABEL = "Debian 12 (bookworm) (local/debian12)";
/** A boot under emulation takes about a minute; two at once on two cores, more. */
const BOOT_MS = 10 * 60_000;
const INSECURE_KEY = path.join(process.env.VAGRANT_HOME ?? "", "insecure_private_key");
const log = (msg: string) => console.log(`[real-vms] ${new Date().toISOString().slice(11, 19)} ${msg}`);

let pageA: Page;
let pageB: Page;
let vmA = "";
let vmB = "";
const keyDir = mkdtempSync(path.join(tmpdir(), "twarga-user-keys-"));
let keyA: { privateKey: string; publicKey: string };
let keyA2: { privateKey: string; publicKey: string };
let keyB: { privateKey: string; publicKey: string };

async function launch(page: Page, name: string): Promise<string> {
  await page.goto(`${app.url}/vms/new`);
  await page.getByTestId("launch-name").fill(name);
  await page.getByTestId("launch-box").selectOption({ label: BOX_LABEL });
  // The smallest VM the box allows.
  await page.getByTestId("launch-cpus").fill("1");
  await page.getByTestId("launch-ramMb").fill("512");
  await page.getByTestId("launch-diskGb").fill("10");
  await expect(page.getByTestId("launch-submit")).toBeEnabled();
  await page.getByTestId("launch-submit").click();
  await expect(page).toHaveURL(/\/vms\/(?!new$)[a-z0-9]+$/);
  const id = new URL(page.url()).pathname.split("/").pop()!;
  log(`launched ${name} as ${id}`);
  return id;
}

async function expectState(page: Page, state: string, timeout = BOOT_MS) {
  const started = Date.now();
  await expect(page.getByTestId("vm-state")).toHaveText(state, { timeout });
  log(`${await page.getByTestId("vm-name").textContent()}: ${state} after ${Math.round((Date.now() - started) / 1000)} s`);
}

async function act(page: Page, action: "start" | "stop" | "restart", reached: string) {
  await page.getByTestId(`vm-action-${action}`).click();
  await expect(page.getByTestId("job-progress")).toBeVisible();
  await expectState(page, reached);
}

async function destroy(page: Page, name: string) {
  await page.getByTestId("vm-action-destroy").click();
  await page.getByTestId("destroy-confirm-input").fill(name);
  await page.getByTestId("destroy-confirm").click();
  await expectState(page, "destroyed", 5 * 60_000);
}

async function addKey(page: Page, label: string, publicKey: string) {
  await page.goto(`${app.url}/settings/keys`);
  await page.getByTestId("ssh-key-label-input").fill(label);
  await page.getByTestId("ssh-key-input").fill(publicKey);
  await page.getByTestId("ssh-key-add").click();
  await expect(page.getByTestId("ssh-key-row").filter({ hasText: label })).toBeVisible();
}

const sshShown = async (page: Page) => (await page.getByTestId("ssh-command").textContent())!.trim();

/** Whether an ssh attempt with this key is refused (true) or lets the key in (false). */
async function refused(shown: string, keyPath: string): Promise<boolean> {
  return sshWith(shown, keyPath, "true", 40_000).then(
    () => false,
    (err: { stderr?: string }) => /Permission denied/.test(err.stderr ?? ""),
  );
}

/** Runs a probe inside the guest; true when it succeeded. */
async function fromGuest(shown: string, keyPath: string, probe: string): Promise<boolean> {
  const out = await sshWith(shown, keyPath, `if ${probe} >/dev/null 2>&1; then echo reached; else echo blocked; fi`, 60_000);
  return out.trim().endsWith("reached");
}

/** The CPU % a VM's live tile shows (the app's sampler reading virsh domstats every 5 s). */
async function cpuTile(page: Page): Promise<number | null> {
  const text = (await page.getByTestId("vm-tile-cpu-value").textContent()) ?? "";
  const m = /([\d.]+)\s*%/.exec(text);
  return m ? Number(m[1]) : null;
}

/** What the browser terminal shows, one line per row (xterm's DOM renderer keeps each row as a div of text). */
const terminalText = async (page: Page) =>
  (await page.locator("[data-testid=terminal] .xterm-rows > div").allTextContents()).map((r) => r.trimEnd()).join("\n");

test.describe.serial("VMs on the real hypervisor, through the browser, for two team members", () => {
  test.beforeAll(async ({ browser }: { browser: Browser }) => {
    // Two people, two browser profiles: nothing of one session reaches the other.
    pageA = await (await browser.newContext()).newPage();
    pageB = await (await browser.newContext()).newPage();
    [keyA, keyA2, keyB] = await Promise.all([newUserKey(keyDir, "alice"), newUserKey(keyDir, "alice-second"), newUserKey(keyDir, "bob")]);
  });

  test("signs in; the host is ready and says which driver it uses", async () => {
    // The first account is the admin, so the health view is open to it.
    await signIn(pageA, app, "alice@example.com");
    await pageA.goto(`${app.url}/admin/health`);
    await expect(pageA.getByText(/^Ready: qemu \S+, libvirt /)).toBeVisible({ timeout: 60_000 });
    await expect(pageA.getByText(/^driver in use: (kvm|qemu) \(detected\)/)).toBeVisible();
    await signIn(pageB, app, "bob@example.com");
  });

  test("each member adds their own public key on the keys page", async () => {
    await addKey(pageA, "alice laptop", keyA.publicKey);
    await addKey(pageB, "bob laptop", keyB.publicKey);
  });

  test("two members' VMs launched at once both show progress, then RUNNING with a command to copy", async () => {
    vmA = await launch(pageA, "real-a");
    vmB = await launch(pageB, "real-b");
    for (const page of [pageA, pageB]) await expect(page.getByTestId("job-progress")).toBeVisible();
    await expect(pageA.getByTestId("job-progress")).toContainText(/create: /);
    // One live page at a time while the guests boot: a rendering browser
    // competes with two emulated guests for this machine's two cores.
    const urlB = pageB.url();
    await pageB.goto("about:blank");
    await expectState(pageA, "running");
    await pageB.goto(urlB);
    await expectState(pageB, "running");
    // One command, through the host's forwarded port: no key path, no host-only address.
    for (const page of [pageA, pageB]) {
      // The page says when the VM has its own key and its owner's keys.
      await expect(page.getByTestId("vm-keys-status")).toContainText("Own key: yes", { timeout: 2 * 60_000 });
      const shown = await sshShown(page);
      expect(shown).toMatch(/^ssh -p 22\d\d\d vagrant@\S+$/);
      expect(shown).not.toMatch(/insecure_private_key|-i |192\.168\.|10\.231\./);
    }
    expect(await sshShown(pageA)).not.toBe(await sshShown(pageB));
    expect(await domainState(vmA)).toBe("running");
    expect(await domainState(vmB)).toBe("running");
  });

  test("each member's own key gets into their VM through the forwarded port; Vagrant's insecure key and the other member's key do not", async () => {
    const [shownA, shownB] = [await sshShown(pageA), await sshShown(pageB)];
    expect(await sshWith(shownA, keyA.privateKey, "uptime")).toContain("load average");
    expect(await sshWith(shownB, keyB.privateKey, "uptime")).toContain("load average");
    expect(existsSync(INSECURE_KEY)).toBe(true);
    expect(await refused(shownA, INSECURE_KEY)).toBe(true);
    expect(await refused(shownB, INSECURE_KEY)).toBe(true);
    expect(await refused(shownA, keyB.privateKey)).toBe(true);
    expect(await refused(shownB, keyA.privateKey)).toBe(true);
    // No password login either.
    expect(await sshWith(shownA, keyA.privateKey, "sudo sshd -T | grep -E '^(passwordauthentication|kbdinteractiveauthentication) '")).toMatch(
      /passwordauthentication no[\s\S]*kbdinteractiveauthentication no/,
    );
    // The disk is the size asked for.
    const rootKiB = Number((await sshWith(shownA, keyA.privateKey, "df -k --output=size / | tail -n1")).trim());
    expect(rootKiB).toBeGreaterThan(9 * 1024 * 1024);
  });

  test("the two owners' VMs sit on different networks and cannot reach each other; each still reaches the app's host", async () => {
    const [ipA, ipB] = [await guestAddress(vmA), await guestAddress(vmB)];
    const [netA, netB] = [await guestNetwork(vmA), await guestNetwork(vmB)];
    log(`A ${ipA} on ${netA}, B ${ipB} on ${netB}`);
    expect(netA).not.toBe(netB);
    const [shownA, shownB] = [await sshShown(pageA), await sshShown(pageB)];
    for (const [shown, key, other] of [
      [shownA, keyA.privateKey, ipB],
      [shownB, keyB.privateKey, ipA],
    ] as const) {
      expect(await fromGuest(shown, key, `sudo ping -c 2 -W 3 ${other}`)).toBe(false);
      expect(await fromGuest(shown, key, `timeout 5 bash -c '</dev/tcp/${other}/22'`)).toBe(false);
    }
    // Controls: the same probes do work toward what a VM may reach (its own
    // gateway, the host's app port), so the failures above are the isolation.
    const gatewayA = ipA.replace(/\.\d+$/, ".1");
    expect(await fromGuest(shownA, keyA.privateKey, `sudo ping -c 2 -W 3 ${gatewayA}`)).toBe(true);
    expect(await fromGuest(shownA, keyA.privateKey, `timeout 5 bash -c '</dev/tcp/${gatewayA}/${app.port}'`)).toBe(true);
  });

  test("a key added while the VM runs gets in within a minute", async () => {
    const shownA = await sshShown(pageA);
    expect(await refused(shownA, keyA2.privateKey)).toBe(true);
    await addKey(pageA, "alice second laptop", keyA2.publicKey);
    const added = Date.now();
    let inside = false;
    while (!inside && Date.now() - added < 75_000) {
      inside = !(await refused(shownA, keyA2.privateKey));
      if (!inside) await sleep(5_000);
    }
    log(`the added key got in after ${Math.round((Date.now() - added) / 1000)} s`);
    expect(inside).toBe(true);
  });

  test("the browser terminal runs commands in the owner's VM; the other member cannot open it", async () => {
    await pageA.goto(`${app.url}/vms/${vmA}`);
    await pageA.getByTestId("terminal-open").click();
    await expect(pageA.getByTestId("terminal-status")).toContainText(/connected/i, { timeout: 60_000 });
    await pageA.getByTestId("terminal").click();
    await pageA.keyboard.type("uptime");
    await pageA.keyboard.press("Enter");
    await pageA.keyboard.type("echo $((6*7))");
    await pageA.keyboard.press("Enter");
    await expect.poll(() => terminalText(pageA), { timeout: 30_000 }).toContain("load average");
    // The command's output is a line of its own.
    await expect.poll(() => terminalText(pageA), { timeout: 30_000 }).toMatch(/^42$/m);
    // Bob: A's VM is not his; the page and the terminal endpoint both refuse.
    const page = await pageB.goto(`${app.url}/vms/${vmA}`);
    expect(page?.status()).toBe(404);
    const open = await pageB.request.post(`${app.url}/api/terminal`, { data: { vmId: vmA, cols: 80, rows: 24 } });
    expect([403, 404]).toContain(open.status());
  });

  test("stopping the VM closes its open terminal with a message; start and restart reach their states", async () => {
    await act(pageA, "stop", "stopped");
    await expect(pageA.getByTestId("terminal-status")).toContainText(/closed/i, { timeout: 30_000 });
    expect(await domainState(vmA)).toBe("shut off");
    await expect(pageA.getByTestId("ssh-command")).toHaveCount(0);
    await act(pageA, "start", "running");
    const shownA = await sshShown(pageA);
    expect(await sshWith(shownA, keyA.privateKey, "uptime")).toContain("load average");
    const bootBefore = await sshWith(shownA, keyA.privateKey, "cat /proc/sys/kernel/random/boot_id");
    await act(pageA, "restart", "running");
    // A restart is a real reboot of the guest.
    expect(await sshWith(await sshShown(pageA), keyA.privateKey, "cat /proc/sys/kernel/random/boot_id")).not.toBe(bootBefore);
  });

  test("a busy guest's CPU tile rises above 50 % while the idle guest's stays low", async () => {
    // The live tiles come from the app's sampler (one `virsh domstats` per tick).
    // B has been up for minutes (its boot-time work is done): it is the idle one.
    await pageB.goto(`${app.url}/vms/${vmB}`);
    await expect(pageB.getByTestId("vm-tile-memory-value")).toHaveText(/\d/, { timeout: 30_000 });
    const busy = sshWith(await sshShown(pageA), keyA.privateKey, 'timeout 45 sh -c "while :; do :; done"; true', 90_000);
    let busyMax = 0;
    let idleMax = 0;
    for (let i = 0; i < 16 && busyMax <= 50; i++) {
      await sleep(2500);
      busyMax = Math.max(busyMax, (await cpuTile(pageA)) ?? 0);
      idleMax = Math.max(idleMax, (await cpuTile(pageB)) ?? 0);
    }
    log(`CPU tiles: busy guest up to ${busyMax} %, idle guest up to ${idleMax} %`);
    await busy;
    expect(busyMax).toBeGreaterThan(50);
    expect(idleMax).toBeLessThan(25);
  });

  test("libvirtd going away: the page says readings are unavailable, the app keeps serving, and recovers", async () => {
    test.skip(!existsSync(LIBVIRTD_PID_FILE), "libvirtd was not started by this run's host setup; it is not ours to stop");
    const pid = Number(readFileSync(LIBVIRTD_PID_FILE, "utf8").trim());
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await sleep(200);
    log(`libvirtd ${pid} stopped`);
    await expect(pageB.getByTestId("vm-metrics-unavailable")).toContainText("libvirt unreachable", { timeout: 30_000 });
    expect((await pageB.request.get(`${app.url}/api/health`)).status()).toBe(200);
    await pageB.reload();
    await expect(pageB.getByTestId("vm-name")).toHaveText("real-b");
    // The guests run on without libvirtd; bring it back.
    await execa("bash", ["scripts/host-setup.sh"], { stdio: "inherit" });
    await expect(pageB.getByTestId("vm-metrics-unavailable")).toHaveCount(0, { timeout: 60_000 });
    await expect(pageB.getByTestId("vm-state")).toHaveText("running");
    expect(await sshWith(await sshShown(pageB), keyB.privateKey, "uptime")).toContain("load average");
  });

  test("a poweroff inside the guest shows as stopped within 15 s, with an event; starting it from the page works", async () => {
    await pageB.goto(`${app.url}/vms/${vmB}`);
    const shownB = await sshShown(pageB);
    // The connection drops as the guest powers off: that is the point.
    await sshWith(shownB, keyB.privateKey, "sudo systemctl poweroff", 30_000).catch(() => {});
    for (let i = 0; i < 120 && (await domainState(vmB)) !== "shut off"; i++) await sleep(500);
    const off = Date.now();
    log(`libvirt says ${vmB} is shut off`);
    await expect(pageB.getByTestId("vm-state")).toHaveText("stopped", { timeout: 15_000 });
    log(`the page said stopped ${Math.round((Date.now() - off) / 1000)} s after the domain went off`);
    await pageB.goto(`${app.url}/events?vm=${vmB}`);
    await expect(pageB.getByText(/stopped outside Twarga Cloud/).first()).toBeVisible({ timeout: 15_000 });
    await pageB.goto(`${app.url}/vms/${vmB}`);
    await act(pageB, "start", "running");
    await expect(pageB.getByTestId("vm-keys-status")).toContainText("Own key: yes", { timeout: 2 * 60_000 });
    expect(await sshWith(await sshShown(pageB), keyB.privateKey, "uptime")).toContain("load average");
  });

  test("destroying both on the page leaves no domain, volume, folder or owner network", async () => {
    const owned = [await guestNetwork(vmA), await guestNetwork(vmB)];
    await destroy(pageA, "real-a");
    await destroy(pageB, "real-b");
    expect(await leftovers(vmA)).toEqual([]);
    expect(await leftovers(vmB)).toEqual([]);
    // Each owner's network goes with their last VM.
    await expect.poll(async () => (await networks()).filter((n) => owned.includes(n)), { timeout: 30_000 }).toEqual([]);
  });

  test("a VM whose vagrant up is killed mid-boot ends reconciled, and can be destroyed", async () => {
    const vm = await launch(pageA, "real-killed");
    // Mid-boot: the domain runs, vagrant waits for its address.
    for (let i = 0; i < 600 && (await domainState(vm)) !== "running"; i++) await sleep(500);
    const pids = vagrantUpPids(vm);
    expect(pids.length).toBeGreaterThan(0);
    log(`killing vagrant up ${pids.join(",")}`);
    for (const pid of pids) process.kill(pid, "SIGKILL");
    await expect(pageA.getByTestId("vm-state")).toHaveText(/^(error|running)$/, { timeout: 3 * 60_000 });
    const shown = (await pageA.getByTestId("vm-state").textContent())!;
    const real = await domainState(vm);
    log(`after the kill the page says ${shown}, libvirt says ${real || "no domain"}`);
    // A guest that is gone must never show as running.
    if (real !== "running") expect(shown).toBe("error");
    // An error says what happened, in words.
    if (shown === "error") await expect(pageA.getByTestId("vm-error")).toHaveText(/\w+/);
    await destroy(pageA, "real-killed");
    expect(await leftovers(vm)).toEqual([]);
  });

  test("a create cancelled while it runs ends its vagrant up and leaves no domain, volume, folder or network; the page and an event say so", async () => {
    const vm = await launch(pageA, "real-cancelled");
    // The domain exists: vagrant-libvirt made it and waits for the guest's address.
    for (let i = 0; i < 600 && (await domainState(vm)) !== "running"; i++) await sleep(500);
    expect(await domainState(vm)).toBe("running");
    const pids = vagrantUpPids(vm);
    expect(pids.length).toBeGreaterThan(0);
    const network = await guestNetwork(vm);
    const asked = Date.now();
    await pageA.getByTestId("cancel-job").click();
    await expectState(pageA, "destroyed", 5 * 60_000);
    log(`cancelled a running create: destroyed after ${Math.round((Date.now() - asked) / 1000)} s`);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`), `vagrant up ${pid} still runs`).toBe(false);
    expect(await leftovers(vm)).toEqual([]);
    // The owner had no other VM: their network goes too.
    await expect.poll(async () => (await networks()).includes(network), { timeout: 30_000 }).toBe(false);
    await expect(pageA.getByTestId("job-history")).toContainText("cancelled");
    await pageA.goto(`${app.url}/events?vm=${vm}`);
    await expect(pageA.getByText(/the running create was cancelled/).first()).toBeVisible({ timeout: 15_000 });
  });
});
