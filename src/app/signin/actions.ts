"use server";
import { signIn, signOut } from "~/server/auth";
import { safeCallbackPath } from "~/server/auth/callback-url";
import { configuredProviders } from "~/server/auth/providers";
import { appUrl } from "~/server/auth/secret";

export async function signInAction(formData: FormData) {
  const provider = String(formData.get("provider") ?? "");
  if (!configuredProviders().info.some((p) => p.id === provider)) throw new Error("Unknown sign-in provider.");
  await signIn(provider, { redirectTo: safeCallbackPath(formData.get("callbackUrl"), appUrl()) });
}

export async function signOutAction() {
  await signOut({ redirectTo: "/signin" });
}
