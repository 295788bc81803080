// The security events background service: the correlation rules, reading the
// events every process records by cursor; the sshd log follower
// (SSHD_LOG_FOLLOW) and the retention job.
import type { Db } from "../db/client";
import { env } from "../env";
import { startCorrelation } from "./correlation";
import { startEventRetention } from "./retention";
import { startSshdFollower } from "./sshd-follower";

export function startEventServices(db: Db): { stop(): Promise<void> } {
  const e = env();
  const handles = [startCorrelation(db), startEventRetention(db), ...(e.SSHD_LOG_FOLLOW ? [startSshdFollower(db, e.SSHD_LOG_PATH)] : [])];
  return {
    async stop() {
      // The follower first, then the rules: their last read still sees the follower's last lines.
      for (const h of [...handles].reverse()) await h.stop().catch((err) => console.error("[events] stop failed:", err));
    },
  };
}
