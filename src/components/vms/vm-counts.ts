// The one way the app counts a user's VMs in words, for the dashboard and /vms
// alike: from the account's usage (VMs not destroyed; "running" = the states the
// running quota counts, i.e. up or on the way up), and the quota beside it.
interface Usage {
  vms: number;
  running: number;
}
interface Quota {
  maxVms: number;
  maxRunning: number;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** "1 running of 3 VMs" */
export function vmCountWords(usage: Usage): string {
  return `${usage.running} running of ${plural(usage.vms, "VM")}`;
}

/** "limits: 5 VMs, 3 running at once" */
export function vmQuotaWords(quota: Quota): string {
  return `limits: ${plural(quota.maxVms, "VM")}, ${quota.maxRunning} running at once`;
}
