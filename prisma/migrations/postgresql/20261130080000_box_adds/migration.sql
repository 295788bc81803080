-- CreateTable: an admin's `vagrant box add` from a host file or a URL, with its progress (src/server/admin/box-add.ts)
CREATE TABLE "BoxAdd" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "sourceKind" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "progress" INTEGER NOT NULL DEFAULT 0,
    "output" TEXT NOT NULL DEFAULT '',
    "error" TEXT,
    "requestedById" TEXT,
    "requestedByEmail" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" TIMESTAMP(3),

    CONSTRAINT "BoxAdd_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "BoxAdd_name_state_idx" ON "BoxAdd"("name", "state");
CREATE INDEX "BoxAdd_startedAt_idx" ON "BoxAdd"("startedAt");
