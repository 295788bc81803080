// The scopes a personal API token can carry (api-tokens.ts), with what each
// allows. Pure data, so the settings page's client component can import it too.
export const API_SCOPES = ["vms:read", "vms:write", "metrics:read", "events:read", "admin"] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export const SCOPE_DESCRIPTIONS: Record<ApiScope, string> = {
  "vms:read": "List and show your VMs and follow their jobs.",
  "vms:write": "Launch, start, stop, restart and destroy your VMs.",
  "metrics:read": "Read host and VM metrics, current and history.",
  "events:read": "List the events you may see.",
  admin: "Admin procedures (admins only; stops working if you stop being an admin).",
};

/** Token lifetimes the settings page offers; the server accepts any whole number of days up to MAX_EXPIRY_DAYS. */
export const EXPIRY_CHOICES_DAYS = [7, 30, 90, 365] as const;
export const MAX_EXPIRY_DAYS = 365;
