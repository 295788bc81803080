-- The job queue (src/server/vms/job-queue.ts, cancel.ts). VmJob.state may now be CANCELLED (SQLite keeps enums as TEXT).

-- AlterTable: an admin's queue order, and a cancel asked for while the job runs
ALTER TABLE "VmJob" ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "VmJob" ADD COLUMN "cancelRequestedAt" DATETIME;
ALTER TABLE "VmJob" ADD COLUMN "cancelRequestedById" TEXT;
ALTER TABLE "VmJob" ADD COLUMN "cancelRequestedByEmail" TEXT;
