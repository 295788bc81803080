-- CreateEnum
CREATE TYPE "VmState" AS ENUM ('PENDING', 'CREATING', 'RUNNING', 'STOPPING', 'STOPPED', 'STARTING', 'RESTARTING', 'DESTROYING', 'DESTROYED', 'ERROR');

-- CreateEnum
CREATE TYPE "VmJobKind" AS ENUM ('CREATE', 'START', 'STOP', 'RESTART', 'DESTROY');

-- CreateEnum
CREATE TYPE "VmJobState" AS ENUM ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'INTERRUPTED');

-- CreateEnum
CREATE TYPE "CreditEntryKind" AS ENUM ('CHARGE', 'GRANT', 'REFUND');

-- CreateTable
CREATE TABLE "Box" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "displayName" TEXT NOT NULL,
    "osFamily" TEXT NOT NULL,
    "minCpus" INTEGER NOT NULL DEFAULT 1,
    "minRamMb" INTEGER NOT NULL DEFAULT 512,
    "minDiskGb" INTEGER NOT NULL DEFAULT 10,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Box_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Vm" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "activeName" TEXT,
    "ownerId" TEXT NOT NULL,
    "boxId" TEXT NOT NULL,
    "cpus" INTEGER NOT NULL,
    "ramMb" INTEGER NOT NULL,
    "diskGb" INTEGER NOT NULL,
    "driver" TEXT NOT NULL,
    "state" "VmState" NOT NULL DEFAULT 'PENDING',
    "error" TEXT,
    "errorOutput" TEXT,
    "ipAddress" TEXT,
    "sshUser" TEXT,
    "sshPort" INTEGER,
    "startedAt" TIMESTAMP(3),
    "meteredUntil" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "destroyedAt" TIMESTAMP(3),

    CONSTRAINT "Vm_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "VmJob" (
    "id" TEXT NOT NULL,
    "vmId" TEXT NOT NULL,
    "kind" "VmJobKind" NOT NULL,
    "state" "VmJobState" NOT NULL DEFAULT 'QUEUED',
    "requestedById" TEXT,
    "requestedByEmail" TEXT,
    "step" TEXT,
    "progress" INTEGER NOT NULL DEFAULT 0,
    "output" TEXT NOT NULL DEFAULT '',
    "exitCode" INTEGER,
    "message" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "VmJob_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "CreditLedgerEntry" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "kind" "CreditEntryKind" NOT NULL,
    "amount" DOUBLE PRECISION NOT NULL,
    "reason" TEXT NOT NULL,
    "actorId" TEXT,
    "actorEmail" TEXT,
    "vmId" TEXT,
    "idempotencyKey" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "CreditLedgerEntry_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "UserQuota" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "maxVms" INTEGER,
    "maxCpus" INTEGER,
    "maxRamMb" INTEGER,
    "maxDiskGb" INTEGER,
    "maxRunning" INTEGER,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "UserQuota_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Box_name_key" ON "Box"("name");

-- CreateIndex
CREATE INDEX "Vm_ownerId_createdAt_idx" ON "Vm"("ownerId", "createdAt");

-- CreateIndex
CREATE INDEX "Vm_state_idx" ON "Vm"("state");

-- CreateIndex
CREATE UNIQUE INDEX "Vm_ownerId_activeName_key" ON "Vm"("ownerId", "activeName");

-- CreateIndex
CREATE INDEX "VmJob_vmId_createdAt_idx" ON "VmJob"("vmId", "createdAt");

-- CreateIndex
CREATE INDEX "VmJob_state_createdAt_idx" ON "VmJob"("state", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "CreditLedgerEntry_idempotencyKey_key" ON "CreditLedgerEntry"("idempotencyKey");

-- CreateIndex
CREATE INDEX "CreditLedgerEntry_userId_createdAt_idx" ON "CreditLedgerEntry"("userId", "createdAt");

-- CreateIndex
CREATE INDEX "CreditLedgerEntry_vmId_idx" ON "CreditLedgerEntry"("vmId");

-- CreateIndex
CREATE UNIQUE INDEX "UserQuota_userId_key" ON "UserQuota"("userId");

-- AddForeignKey
ALTER TABLE "Vm" ADD CONSTRAINT "Vm_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Vm" ADD CONSTRAINT "Vm_boxId_fkey" FOREIGN KEY ("boxId") REFERENCES "Box"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "VmJob" ADD CONSTRAINT "VmJob_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "VmJob" ADD CONSTRAINT "VmJob_requestedById_fkey" FOREIGN KEY ("requestedById") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "CreditLedgerEntry" ADD CONSTRAINT "CreditLedgerEntry_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UserQuota" ADD CONSTRAINT "UserQuota_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
