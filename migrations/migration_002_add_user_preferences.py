"""
Migration 002: Add User Preferences
Adds a user_preferences table for storing user settings
"""

import logging

from nbmigrate import DatabaseConnection, Migration

logger = logging.getLogger(__name__)


class AddUserPreferencesMigration(Migration):
    """Add user preferences table"""

    def __init__(self):
        super().__init__(
            version="002",
            name="add_user_preferences",
            description="Add user_preferences table for storing user settings",
        )

    async def up(self, db: DatabaseConnection):
        """Apply the migration"""
        logger.info("Adding user_preferences table...")

        await db.execute("""
            CREATE TABLE IF NOT EXISTS user_preferences (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id INTEGER NOT NULL,
                preference_key TEXT NOT NULL,
                preference_value TEXT,
                created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
                updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
                UNIQUE(user_id, preference_key)
            );
        """)

        await db.execute("""
            CREATE INDEX IF NOT EXISTS idx_user_preferences_user_id
            ON user_preferences(user_id);
        """)

        await db.commit()
        logger.info("✓ User preferences table added successfully")

    async def down(self, db: DatabaseConnection):
        """Rollback the migration"""
        logger.warning("Removing user_preferences table...")

        await db.execute("DROP TABLE IF EXISTS user_preferences")
        await db.commit()

        logger.warning("✓ User preferences table removed")
