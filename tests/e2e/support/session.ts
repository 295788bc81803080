// Browser helpers shared by the e2e specs: sign in through an identity
// provider's real form, and read the app's real database.
import Database from "better-sqlite3";
import { expect, type Page } from "@playwright/test";
import type { E2EApp } from "./apps";

/** Signs in through the provider button on /signin and the provider's own form. */
export async function signIn(page: Page, app: E2EApp, email: string, opts: { name?: string; provider?: RegExp; expectLanding?: boolean } = {}) {
  await page.goto(`${app.url}/signin`);
  await page.getByRole("button", { name: opts.provider ?? /Local identity provider/ }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Name").fill(opts.name ?? email.split("@")[0]!);
  await page.getByRole("button", { name: "Continue" }).click();
  if (opts.expectLanding !== false) await expect(page.getByTestId("dashboard-title")).toBeVisible();
}

export async function signOut(page: Page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/signin/);
}

/** Runs a read or write against the app's SQLite file (WAL lets it share with the server). */
export function withDb<T>(app: E2EApp, fn: (db: Database.Database) => T): T {
  const db = new Database(app.dbFile, { timeout: 5000 });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}
