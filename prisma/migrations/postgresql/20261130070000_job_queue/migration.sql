-- The job queue (src/server/vms/job-queue.ts, cancel.ts).

-- AlterEnum: a job cancelled while queued or running (PostgreSQL 12+ allows this inside the migration's transaction; nothing here uses the value)
ALTER TYPE "VmJobState" ADD VALUE 'CANCELLED';

-- AlterTable: an admin's queue order, and a cancel asked for while the job runs
ALTER TABLE "VmJob" ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "VmJob" ADD COLUMN "cancelRequestedAt" TIMESTAMP(3);
ALTER TABLE "VmJob" ADD COLUMN "cancelRequestedById" TEXT;
ALTER TABLE "VmJob" ADD COLUMN "cancelRequestedByEmail" TEXT;
