-- AlterTable: when this app last saw the VM up (a metering pass); metering charges no gap longer than METERING_MAX_GAP_S after it
ALTER TABLE "Vm" ADD COLUMN "lastSeenRunningAt" TIMESTAMP(3);

-- CreateTable: the per-user row every quota claim writes first, so claims for one user run one at a time across processes
CREATE TABLE "UserQuotaLock" (
    "userId" TEXT NOT NULL,
    "claims" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "UserQuotaLock_pkey" PRIMARY KEY ("userId")
);

-- AddForeignKey
ALTER TABLE "UserQuotaLock" ADD CONSTRAINT "UserQuotaLock_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
