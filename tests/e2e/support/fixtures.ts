// The `test` every e2e spec uses: Playwright's, plus a watch on every page the
// test opens (its own page, and pages of contexts it makes with
// browser.newContext() or browser.newPage()). A test fails when any of them
// logs a console error, throws an uncaught error, or has the browser refuse
// something under the Content-Security-Policy (the `securitypolicyviolation`
// event, reported from inside the page, and Chrome's own "Refused to …" line).
// Chrome also logs every response with an error status ("Failed to load
// resource: … status of 404"). Not faults, so allowed, each only for its own URL
// and status:
// - a document that answered 4xx/5xx where the test itself navigated to see
//   that page (the 403 and 404 pages);
// - a 4xx answer to the app's own fetch (tRPC refusing a bad key with 400, a
//   401 once the test has ended the session): the API answers in HTTP
//   statuses, and the page shows or handles them. 5xx is always a fault;
// - requests that fail with net::ERR_INTERNET_DISCONNECTED after the test took
//   the browser offline (context.setOffline) to test a reconnect.
import { test as base, expect, type Browser, type BrowserContext, type ConsoleMessage, type Page } from "@playwright/test";

export { expect };

/** Set in the page by the init script below, and read back from its console. */
const CSP_TAG = "[csp-violation]";

interface Watch {
  problems: string[];
  /** Documents (any status >= 400) and the page's own API calls (4xx) that answered with an error status, by URL. */
  errorAnswers: Map<string, number>;
  /** Whether the test has taken a context offline. */
  wentOffline: boolean;
  /** "Failed to load resource" lines, judged when the test ends (the response they name may be reported after them). */
  loadFailures: Array<{ msg: ConsoleMessage; line: string }>;
}

function describeMessage(msg: ConsoleMessage): string {
  const where = msg.location().url;
  return `${msg.text()}${where ? ` (at ${where})` : ""}`;
}

function isAllowedLoadFailure(msg: ConsoleMessage, watch: Watch): boolean {
  if (watch.wentOffline && /^Failed to load resource: net::ERR_INTERNET_DISCONNECTED/.test(msg.text())) return true;
  const m = /^Failed to load resource: the server responded with a status of (\d{3})/.exec(msg.text());
  if (!m) return false;
  return watch.errorAnswers.get(msg.location().url) === Number(m[1]);
}

async function watchContext(context: BrowserContext, watch: Watch): Promise<void> {
  await context.addInitScript((tag) => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`${tag} ${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${e.documentURI}${e.sample ? `: ${e.sample}` : ""}`);
    });
  }, CSP_TAG);
  context.on("response", (res) => {
    const kind = res.request().resourceType();
    const status = res.status();
    if ((kind === "document" && status >= 400) || (["fetch", "xhr", "eventsource"].includes(kind) && status >= 400 && status < 500))
      watch.errorAnswers.set(res.url(), status);
  });
  const setOffline = context.setOffline.bind(context);
  context.setOffline = async (offline: boolean) => {
    if (offline) watch.wentOffline = true;
    return setOffline(offline);
  };
  context.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const line = `${msg.page()?.url() ?? "?"}: console error: ${describeMessage(msg)}`;
    if (msg.text().startsWith("Failed to load resource:")) watch.loadFailures.push({ msg, line });
    else watch.problems.push(line);
  });
  context.on("weberror", (err) => watch.problems.push(`${err.page()?.url() ?? "?"}: uncaught: ${err.error().message}`));
}

/** Makes contexts and pages the test opens itself watched too, for the test's duration. */
function watchBrowser(browser: Browser, watch: Watch): () => void {
  const newContext = browser.newContext.bind(browser);
  const newPage = browser.newPage.bind(browser);
  browser.newContext = async (...args: Parameters<Browser["newContext"]>) => {
    const context = await newContext(...args);
    await watchContext(context, watch);
    return context;
  };
  // browser.newPage() makes a context of its own; watch it through newContext and hand its page back.
  browser.newPage = async (...args: Parameters<Browser["newPage"]>) => {
    const context = await browser.newContext(...args);
    const page: Page = await context.newPage();
    page.on("close", () => void context.close().catch(() => {}));
    return page;
  };
  return () => {
    browser.newContext = newContext;
    browser.newPage = newPage;
  };
}

export const test = base.extend<{ pageProblems: string[] }>({
  pageProblems: [
    async ({ context, browser }, use) => {
      const watch: Watch = { problems: [], errorAnswers: new Map(), wentOffline: false, loadFailures: [] };
      await watchContext(context, watch);
      const restore = watchBrowser(browser, watch);
      await use(watch.problems);
      restore();
      for (const { msg, line } of watch.loadFailures) if (!isAllowedLoadFailure(msg, watch)) watch.problems.push(line);
      expect(watch.problems, "console errors, uncaught errors or Content-Security-Policy violations on the pages this test opened").toEqual([]);
    },
    { auto: true },
  ],
});
