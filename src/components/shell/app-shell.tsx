import Link from "next/link";
import type { ReactNode } from "react";
import { signOutAction } from "~/app/signin/actions";
import { EvaluationMarker } from "./evaluation-marker";
import { NavLinks } from "./nav-links";

export interface ShellUser {
  email: string;
  role: "USER" | "ADMIN";
}

export function AppShell({ user, showAdmin, children, badge }: { user: ShellUser; showAdmin: boolean; children: ReactNode; badge?: ReactNode }) {
  const links = [
    { href: "/", label: "Dashboard" },
    { href: "/status", label: "Status" },
    { href: "/vms", label: "VMs" },
    { href: "/monitor", label: "Monitor" },
    { href: "/events", label: "Events" },
    { href: "/settings/keys", label: "Keys" },
    { href: "/settings/tokens", label: "Tokens" },
    ...(showAdmin ? [{ href: "/admin", label: "Admin" }] : []),
  ];
  return (
    <div className="min-h-screen">
      <header className="sticky top-0 z-20 border-b border-gray-200 bg-white/90 backdrop-blur dark:border-gray-800 dark:bg-gray-900/90">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-x-4 gap-y-2 px-3 py-2 sm:px-6">
          <Link href="/" className="font-semibold tracking-tight">
            Twarga Cloud
          </Link>
          {badge}
          <EvaluationMarker />
          <div className="ml-auto flex items-center gap-2 text-sm">
            <span className="max-w-[12rem] truncate text-gray-600 dark:text-gray-300" data-testid="shell-user">
              {user.email}
            </span>
            <span className="rounded bg-gray-100 px-1.5 py-0.5 text-xs font-medium text-gray-700 dark:bg-gray-800 dark:text-gray-200" data-testid="shell-role">
              {user.role === "ADMIN" ? "admin" : "user"}
            </span>
            <form action={signOutAction}>
              <button type="submit" className="rounded px-2 py-1 text-gray-600 hover:bg-gray-100 dark:text-gray-300 dark:hover:bg-gray-800">
                Sign out
              </button>
            </form>
          </div>
          <NavLinks links={links} />
        </div>
      </header>
      <main className="mx-auto max-w-6xl px-3 py-4 sm:px-6 sm:py-6">{children}</main>
    </div>
  );
}
