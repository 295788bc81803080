// Tabs between the monitoring pages.
import Link from "next/link";

export function MonitorNav({ current, showAdmin }: { current: "live" | "history" | "admin"; showAdmin: boolean }) {
  const tabs = [
    { key: "live", href: "/monitor", label: "Live" },
    { key: "history", href: "/monitor/history", label: "History" },
    ...(showAdmin ? [{ key: "admin", href: "/monitor/admin", label: "Admin" }] : []),
  ];
  return (
    <nav className="flex gap-1 border-b border-gray-200 dark:border-gray-800" aria-label="Monitoring">
      {tabs.map((t) => (
        <Link
          key={t.key}
          href={t.href}
          aria-current={t.key === current ? "page" : undefined}
          className={[
            "-mb-px border-b-2 px-3 py-1.5 text-sm",
            t.key === current
              ? "border-blue-600 font-medium text-blue-700 dark:text-blue-400"
              : "border-transparent text-gray-600 hover:text-gray-900 dark:text-gray-300 dark:hover:text-white",
          ].join(" ")}
        >
          {t.label}
        </Link>
      ))}
    </nav>
  );
}
