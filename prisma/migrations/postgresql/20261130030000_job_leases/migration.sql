-- Job leases and the Vagrant process of each job (src/server/vms/job-lease.ts, orphans.ts).

-- AlterTable: the runner that holds a RUNNING job and until when (renewed by its heartbeat)
ALTER TABLE "VmJob" ADD COLUMN "leaseOwner" TEXT;
ALTER TABLE "VmJob" ADD COLUMN "leaseExpiresAt" TIMESTAMP(3);
-- AlterTable: the job's current Vagrant process: PID, start time in clock ticks after boot (/proc/<pid>/stat) and the boot it ran in
ALTER TABLE "VmJob" ADD COLUMN "vagrantPid" INTEGER;
ALTER TABLE "VmJob" ADD COLUMN "vagrantPidStart" BIGINT;
ALTER TABLE "VmJob" ADD COLUMN "vagrantBootId" TEXT;

-- CreateIndex
CREATE INDEX "VmJob_state_leaseExpiresAt_idx" ON "VmJob"("state", "leaseExpiresAt");
