-- AlterTable: each alert rule's webhook signing secret ("whsec_<base64>"), null until the rule has a webhook URL
ALTER TABLE "AlertRule" ADD COLUMN "webhookSecret" TEXT;
