import { expect, test } from "./support/fixtures";
import { localApp, type E2EApp } from "./support/apps";
import { signIn, withDb } from "./support/session";

// A script's view of the API against a real `next start` and the stand-in
// vagrant: a token made on the settings page, then nothing but fetch and
// `Authorization: Bearer`. E2E_API_APP (JSON of an E2EApp) points the spec at another instance.
const app: E2EApp = process.env.E2E_API_APP ? (JSON.parse(process.env.E2E_API_APP) as E2EApp) : localApp;

interface Job {
  id: string;
  state: string;
  offset: number;
  output: string;
  length: number;
}

function client(token: string) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${app.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
}

/** Polls a job from where the last answer ended, the way docs/api.md shows, until it is no longer queued or running. */
async function follow(call: ReturnType<typeof client>, jobId: string): Promise<{ state: string; output: string }> {
  let offset = 0;
  let output = "";
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    const { status, json } = await call("GET", `/jobs/${jobId}?fromOffset=${offset}`);
    expect(status).toBe(200);
    const job = json as unknown as Job;
    output = job.offset === 0 ? job.output : output + job.output;
    offset = job.length;
    if (job.state !== "QUEUED" && job.state !== "RUNNING") return { state: job.state, output };
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`job ${jobId} did not end`);
}

test.describe.serial("API for scripts", () => {
  test.skip(!app.env.VAGRANT_BIN?.includes("fake-vagrant"), "the app under test is not using the stand-in vagrant");
  let token = "";

  test("create a token on the settings page; it is shown once", async ({ page }) => {
    await signIn(page, app, "script-user@example.com");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Tokens" }).click();
    await expect(page).toHaveURL(/\/settings\/tokens$/);
    await expect(page.getByTestId("api-tokens-empty")).toBeVisible();
    // The admin scope is offered to admins only (run alone, this spec's user is the first to sign in, and so the admin).
    const role = withDb(app, (db) => (db.prepare("SELECT role FROM User WHERE email = ?").get("script-user@example.com") as { role: string }).role);
    await expect(page.getByTestId("api-token-scope-admin")).toHaveCount(role === "ADMIN" ? 1 : 0);

    await page.getByTestId("api-token-label-input").fill("deploy script");
    for (const scope of ["vms:write", "metrics:read", "events:read"]) await page.getByTestId(`api-token-scope-${scope}`).check();
    await page.getByTestId("api-token-expiry").selectOption("7");
    await page.getByTestId("api-token-create").click();
    token = (await page.getByTestId("api-token-secret").textContent()) ?? "";
    expect(token).toMatch(/^twc_[A-Za-z0-9]{40}$/);
    const row = page.getByTestId("api-token-row");
    await expect(row).toHaveCount(1);
    await expect(row.getByTestId("api-token-prefix")).toHaveText(`${token.slice(0, 12)}…`);
    await expect(row.getByTestId("api-token-scopes")).toHaveText("vms:read, vms:write, metrics:read, events:read");
    await expect(row.getByTestId("api-token-last-used")).toHaveText("Never used");

    // Shown once: after a reload only the prefix remains.
    await page.reload();
    await expect(page.getByTestId("api-token-secret")).toHaveCount(0);
    expect(await page.content()).not.toContain(token.slice(12));
  });

  test("a script launches, follows and destroys a VM with fetch and the token alone", async () => {
    test.setTimeout(120_000);
    const call = client(token);

    const boxes = await call("GET", "/boxes");
    expect(boxes.status).toBe(200);
    const box = (boxes.json.boxes as { id: string; name: string }[])[0]!;

    const launched = await call("POST", "/vms", { name: "from-script", boxId: box.id, cpus: 1, ramMb: 512, diskGb: 10, requestKey: "script-run-0001" });
    expect(launched.status).toBe(202);
    const vmId = launched.json.id as string;
    const created = await follow(call, launched.json.jobId as string);
    expect(created.state).toBe("SUCCEEDED");
    expect(created.output).toContain("Machine booted and ready!");

    const shown = await call("GET", `/vms/${vmId}`);
    expect(shown.json).toMatchObject({ id: vmId, name: "from-script", state: "RUNNING" });
    expect(((await call("GET", "/vms")).json as unknown as { id: string }[]).map((v) => v.id)).toContain(vmId);
    expect((await call("GET", "/metrics/current")).status).toBe(200);
    expect((await call("GET", `/vms/${vmId}/metrics/history?metrics=cpuPct&range=1h`)).status).toBe(200);

    const destroyed = await call("POST", `/vms/${vmId}/destroy`, { confirmName: "from-script" });
    expect(destroyed.status).toBe(202);
    expect((await follow(call, destroyed.json.id as string)).state).toBe("SUCCEEDED");
    expect((await call("GET", `/vms/${vmId}`)).json.state).toBe("DESTROYED");

    const events = await call("GET", `/events?vm=${vmId}&limit=20`);
    expect((events.json.items as { action: string }[]).map((e) => e.action)).toEqual(expect.arrayContaining(["vm.create.requested"]));
  });

  test("the OpenAPI document is served and every path in it answers", async () => {
    const res = await fetch(`${app.url}/api/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe("3.1.0");
    const call = client(token);
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const method of Object.keys(methods)) {
        const url =
          path.replace("/api/v1", "").replace("{id}", "no-such-id").replace("{jobId}", "no-such-job") +
          (path.endsWith("/history") ? "?metrics=cpuPct&range=1h" : "");
        const { status, json } = await call(method.toUpperCase(), url, method === "post" ? {} : undefined);
        expect([200, 202, 400, 404], `${method} ${path}`).toContain(status);
        expect(JSON.stringify(json), `${method} ${path}`).not.toContain("No such endpoint");
      }
    }
  });

  test("a token in the URL is refused; a revoked token stops at once; the last use is shown", async ({ page }) => {
    const inUrl = await fetch(`${app.url}/api/v1/vms?access_token=${token}`);
    expect(inUrl.status).toBe(400);
    expect(((await inUrl.json()) as { error: { code: string } }).error.code).toBe("TOKEN_IN_URL");
    expect((await fetch(`${app.url}/api/v1/vms`)).status).toBe(401);
    // The token also works against tRPC's own endpoint, within its scopes.
    const trpc = await fetch(`${app.url}/api/trpc/vms.list`, { headers: { authorization: `Bearer ${token}` } });
    expect(trpc.status).toBe(200);
    const trpcTokens = await fetch(`${app.url}/api/trpc/apiTokens.list`, { headers: { authorization: `Bearer ${token}` } });
    expect(trpcTokens.status).toBe(403);

    await signIn(page, app, "script-user@example.com");
    await page.goto(`${app.url}/settings/tokens`);
    const row = page.getByTestId("api-token-row");
    await expect(row.getByTestId("api-token-last-used")).toContainText(/Last used .* from (127\.0\.0\.1|::1)/);
    await row.getByTestId("api-token-revoke").click();
    await row.getByTestId("api-token-revoke-confirm").click();
    await expect(row.getByTestId("api-token-status")).toHaveText("revoked");
    expect((await client(token)("GET", "/vms")).status).toBe(401);
  });
});
