"use server";
import { signIn, signOut } from "~/server/auth";
import { configuredProviders } from "~/server/auth/providers";

/** Only same-origin paths are followed after sign-in. */
function safeCallback(raw: FormDataEntryValue | null): string {
  const value = typeof raw === "string" ? raw : "/";
  return value.startsWith("/") && !value.startsWith("//") ? value : "/";
}

export async function signInAction(formData: FormData) {
  const provider = String(formData.get("provider") ?? "");
  if (!configuredProviders().info.some((p) => p.id === provider)) throw new Error("Unknown sign-in provider.");
  await signIn(provider, { redirectTo: safeCallback(formData.get("callbackUrl")) });
}

export async function signOutAction() {
  await signOut({ redirectTo: "/signin" });
}
