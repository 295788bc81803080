// The whole VM lifecycle in the browser, on the real hypervisor: the app runs
// the real vagrant, vagrant-libvirt, libvirt and QEMU (software emulation here)
// with the locally built box. What the page says is checked against the host
// (virsh, the VM folders) and against the guest itself (ssh with the command
// the page shows). Run by tests/real-vms/run.sh, which also cleans up the host.
import { existsSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { expect, test, type Browser, type Page } from "@playwright/test";
import { execa } from "execa";
import { signIn } from "../e2e/support/session";
import { realVmApp as app } from "./app";
import { domainState, leftovers, LIBVIRTD_PID_FILE, sshWith, vagrantUpPids } from "./host";

const BOX_LABEL = "Debian 12 (bookworm) (local/debian12)";
/** A boot under emulation takes about a minute; two at once on two cores, more. */
const BOOT_MS = 10 * 60_000;
const log = (msg: string) => console.log(`[real-vms] ${new Date().toISOString().slice(11, 19)} ${msg}`);

let pageA: Page;
let pageB: Page;
let vmA = "";
let vmB = "";

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

const sshShown = async (page: Page) => (await page.getByTestId("ssh-command").textContent())!;

/** The CPU % a VM's live tile shows (the app's sampler reading virsh domstats every 5 s). */
async function cpuTile(page: Page): Promise<number | null> {
  const text = (await page.getByTestId("vm-tile-cpu-value").textContent()) ?? "";
  const m = /([\d.]+)\s*%/.exec(text);
  return m ? Number(m[1]) : null;
}

test.describe.serial("VMs on the real hypervisor, through the browser", () => {
  test.beforeAll(async ({ browser }: { browser: Browser }) => {
    const context = await browser.newContext();
    pageA = await context.newPage();
    pageB = await context.newPage();
  });

  test("signs in; the host is ready and says which driver it uses", async () => {
    // The first account is the admin, so the health view is open to it.
    await signIn(pageA, app, "real-vms@example.com");
    await pageA.goto(`${app.url}/admin/health`);
    await expect(pageA.getByText(/^Ready: qemu \S+, libvirt /)).toBeVisible({ timeout: 60_000 });
    await expect(pageA.getByText(/^driver in use: (kvm|qemu) \(detected\)/)).toBeVisible();
  });

  test("two VMs launched at once both show progress, then RUNNING with an address", async () => {
    vmA = await launch(pageA, "real-a");
    vmB = await launch(pageB, "real-b");
    // Both are being created at the same time: the page shows the job's step and progress.
    for (const page of [pageA, pageB]) await expect(page.getByTestId("job-progress")).toBeVisible();
    await expect(pageA.getByTestId("job-progress")).toContainText(/create: /);
    // One live page at a time while the guests boot: a rendering browser
    // competes with two emulated guests for this machine's two cores.
    const urlB = pageB.url();
    await pageB.goto("about:blank");
    await expectState(pageA, "running");
    await pageB.goto(urlB);
    await expectState(pageB, "running");
    for (const page of [pageA, pageB]) await expect(page.getByTestId("ssh-command")).toContainText(/vagrant@\d+\.\d+\.\d+\.\d+$/);
    expect(await domainState(vmA)).toBe("running");
    expect(await domainState(vmB)).toBe("running");
  });

  test("the SSH details on the page work, and the disk is the size asked for", async () => {
    expect(await sshWith(await sshShown(pageA), "uptime")).toContain("load average");
    const rootKiB = Number((await sshWith(await sshShown(pageA), "df -k --output=size / | tail -n1")).trim());
    expect(rootKiB).toBeGreaterThan(9 * 1024 * 1024);
  });

  test("stop, start and restart, each reaching its state on the page", async () => {
    await act(pageA, "stop", "stopped");
    expect(await domainState(vmA)).toBe("shut off");
    await expect(pageA.getByTestId("ssh-command")).toHaveCount(0);
    await act(pageA, "start", "running");
    expect(await sshWith(await sshShown(pageA), "uptime")).toContain("load average");
    const bootBefore = await sshWith(await sshShown(pageA), "cat /proc/sys/kernel/random/boot_id");
    await act(pageA, "restart", "running");
    // A restart is a real reboot of the guest.
    expect(await sshWith(await sshShown(pageA), "cat /proc/sys/kernel/random/boot_id")).not.toBe(bootBefore);
  });

  test("a busy guest's CPU tile rises above 50 % while the idle guest's stays low", async () => {
    // The live tiles come from the app's sampler (one `virsh domstats` per tick).
    // B has been up for minutes (its boot-time work is done): it is the idle one.
    await expect(pageB.getByTestId("vm-tile-memory-value")).toHaveText(/\d/, { timeout: 30_000 });
    const busy = sshWith(await sshShown(pageA), 'timeout 45 sh -c "while :; do :; done"; true', 90_000);
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
    expect(await sshWith(await sshShown(pageB), "uptime")).toContain("load average");
  });

  test("destroying both on the page leaves no domain, volume or folder", async () => {
    await destroy(pageA, "real-a");
    await destroy(pageB, "real-b");
    expect(await leftovers(vmA)).toEqual([]);
    expect(await leftovers(vmB)).toEqual([]);
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
});
