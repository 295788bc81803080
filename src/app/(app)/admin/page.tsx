import type { Metadata } from "next";
import { requireAdmin } from "~/server/auth/guard";
import { api } from "~/trpc/server";

export const metadata: Metadata = { title: "Admin" };

export default async function AdminPage() {
  await requireAdmin("/admin");
  const users = await (await api()).admin.users();
  return (
    <div>
      <h1 className="text-xl font-semibold">Users</h1>
      <div className="mt-4 overflow-x-auto rounded-lg border border-gray-200 bg-white dark:border-gray-800 dark:bg-gray-900">
        <table className="w-full text-left text-sm" data-testid="admin-users">
          <thead className="text-gray-500">
            <tr>
              <th className="px-3 py-2">Email</th>
              <th className="px-3 py-2">Role</th>
              <th className="px-3 py-2">Last sign-in</th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id} className="border-t border-gray-100 dark:border-gray-800">
                <td className="px-3 py-2">{u.email}</td>
                <td className="px-3 py-2">{u.role === "ADMIN" ? "admin" : "user"}{u.disabled ? " (disabled)" : ""}</td>
                <td className="px-3 py-2">{u.lastSignInAt ? u.lastSignInAt.toISOString().replace("T", " ").slice(0, 16) : "never"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
