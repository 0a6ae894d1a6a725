"""Add contacts.verified and backfill it: a contact with a phone number is verified.

The seed's version paged with OFFSET and updated row by row; this one walks the table
by primary key (keyset pagination) and updates each key range with one statement.
"""

from nbmigrate import Database
from nbmigrate.batches import backfill


async def up(db: Database) -> None:
    await db.execute("ALTER TABLE contacts ADD COLUMN verified BOOLEAN NOT NULL DEFAULT FALSE")
    await backfill(db, "contacts", "verified = TRUE", where="phone IS NOT NULL")


async def down(db: Database) -> None:
    await db.execute("ALTER TABLE contacts DROP COLUMN verified")
