"""Add contacts.verified and backfill it: a contact with a phone number is verified.

The seed's version paged with OFFSET and updated row by row; this one walks the table
by primary key (keyset pagination) and updates each batch with one executemany.
"""

from nbmigrate import Database
from nbmigrate.batches import update_in_batches


async def up(db: Database) -> None:
    await db.execute("ALTER TABLE contacts ADD COLUMN verified BOOLEAN NOT NULL DEFAULT FALSE")
    await update_in_batches(
        db,
        "contacts",
        "UPDATE contacts SET verified = TRUE WHERE id = ?",
        params=lambda row: (row["id"],),
        where="phone IS NOT NULL",
        batch_size=1000,
    )


async def down(db: Database) -> None:
    await db.execute("ALTER TABLE contacts DROP COLUMN verified")
