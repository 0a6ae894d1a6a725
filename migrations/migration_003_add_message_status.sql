-- Track delivery status of outgoing messages
-- up
ALTER TABLE messages ADD COLUMN status TEXT NOT NULL DEFAULT 'sent';
CREATE INDEX IF NOT EXISTS idx_messages_status ON messages(status);

-- down
DROP INDEX IF EXISTS idx_messages_status;
ALTER TABLE messages DROP COLUMN status;
