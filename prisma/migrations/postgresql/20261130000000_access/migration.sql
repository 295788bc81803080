-- AlterTable
ALTER TABLE "Vm" ADD COLUMN "hostSshPort" INTEGER;
ALTER TABLE "Vm" ADD COLUMN "networkName" TEXT;
ALTER TABLE "Vm" ADD COLUMN "keysSyncedAt" TIMESTAMP(3);

-- CreateIndex
CREATE UNIQUE INDEX "Vm_hostSshPort_key" ON "Vm"("hostSshPort");

-- CreateTable
CREATE TABLE "SshKey" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "bits" INTEGER NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "publicKey" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SshKey_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "SshKey_userId_fingerprint_key" ON "SshKey"("userId", "fingerprint");
CREATE INDEX "SshKey_userId_createdAt_idx" ON "SshKey"("userId", "createdAt");

-- CreateTable
CREATE TABLE "OwnerNetwork" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "subnet" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "OwnerNetwork_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "OwnerNetwork_userId_key" ON "OwnerNetwork"("userId");
CREATE UNIQUE INDEX "OwnerNetwork_name_key" ON "OwnerNetwork"("name");
CREATE UNIQUE INDEX "OwnerNetwork_subnet_key" ON "OwnerNetwork"("subnet");

-- AddForeignKey
ALTER TABLE "SshKey" ADD CONSTRAINT "SshKey_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "OwnerNetwork" ADD CONSTRAINT "OwnerNetwork_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
