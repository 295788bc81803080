// Shown on every page while the built-in identity provider is on: anyone who
// reaches it can sign in as any email, so nobody should mistake this instance
// for a real deployment.
import { localIdpEnabled } from "~/server/env";

export function EvaluationMarker() {
  if (!localIdpEnabled()) return null;
  return (
    <p
      role="status"
      data-testid="evaluation-marker"
      className="rounded bg-amber-100 px-2 py-0.5 text-xs font-semibold text-amber-900 dark:bg-amber-900 dark:text-amber-100"
      title="The built-in local identity provider is on: it signs anyone in with any email, without a password. Set LOCAL_IDP=off and configure a real provider for real use."
    >
      Evaluation sign-in: anyone can sign in as any email
    </p>
  );
}
