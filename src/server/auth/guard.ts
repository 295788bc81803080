// Page-level guards for server components. Procedures use the tRPC
// middlewares; pages use these. Both read the same getActor().
import { headers } from "next/headers";
import { forbidden, redirect } from "next/navigation";
import { getActor } from "./actor";
import { isAdmin, type Actor } from "../permissions";

/** The signed-in user, or a redirect to the sign-in page. */
export async function requireActor(callbackPath?: string): Promise<Actor> {
  const actor = await getActor();
  if (!actor) {
    // src/proxy.ts passes the requested path along; layouts cannot see it otherwise.
    const path = callbackPath ?? (await headers()).get("x-twarga-path") ?? "/";
    redirect(path === "/" ? "/signin" : `/signin?callbackUrl=${encodeURIComponent(path)}`);
  }
  return actor;
}

/** An admin, or the 403 page for a signed-in non-admin (sign-in page when signed out). */
export async function requireAdmin(callbackPath?: string): Promise<Actor> {
  const actor = await requireActor(callbackPath);
  if (!isAdmin(actor)) forbidden();
  return actor;
}
