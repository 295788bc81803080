// The admin console's sections.
import Link from "next/link";
import type { ReactNode } from "react";

const SECTIONS = [
  ["/admin", "Users"],
  ["/admin/vms", "All VMs"],
  ["/admin/catalog", "Catalog"],
  ["/admin/audit", "Audit log"],
  ["/admin/health", "Health"],
] as const;

export function AdminNav({ current }: { current: (typeof SECTIONS)[number][0] }) {
  return (
    <nav className="-mx-1 flex gap-1 overflow-x-auto pb-1" aria-label="Admin sections">
      {SECTIONS.map(([href, label]) => (
        <Link
          key={href}
          href={href}
          aria-current={href === current ? "page" : undefined}
          className={[
            "shrink-0 rounded px-3 py-1.5 text-sm",
            href === current
              ? "bg-gray-900 text-white dark:bg-gray-100 dark:text-gray-900"
              : "text-gray-700 hover:bg-gray-100 dark:text-gray-300 dark:hover:bg-gray-800",
          ].join(" ")}
        >
          {label}
        </Link>
      ))}
    </nav>
  );
}

/** An admin page's frame: title and section navigation. */
export function AdminSection({ current, children }: { current: (typeof SECTIONS)[number][0]; children: ReactNode }) {
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Admin</h1>
      <AdminNav current={current} />
      {children}
    </div>
  );
}

export const btn = "rounded border border-gray-300 px-2 py-1 text-xs hover:bg-gray-50 disabled:opacity-50 dark:border-gray-700 dark:hover:bg-gray-800";
export const btnDanger = "rounded bg-red-600 px-2 py-1 text-xs font-medium text-white hover:bg-red-700 disabled:opacity-50";
export const field = "rounded border border-gray-300 bg-white px-2 py-1 text-sm dark:border-gray-700 dark:bg-gray-900";
export const card = "rounded-lg border border-gray-200 bg-white dark:border-gray-800 dark:bg-gray-900";
