"""Add contacts.verified and backfill it: a contact with a phone number is verified.

The seed's version paged with OFFSET and updated row by row; this one walks the table
by primary key (keyset pagination) and updates each batch with one executemany.
"""

import logging

from nbmigrate import Database

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000


async def up(db: Database) -> None:
    await db.execute("ALTER TABLE contacts ADD COLUMN verified BOOLEAN NOT NULL DEFAULT 0")
    last_id, done = 0, 0
    while True:
        rows = await db.fetch_all(
            "SELECT id FROM contacts WHERE id > ? AND phone IS NOT NULL ORDER BY id LIMIT ?",
            (last_id, BATCH_SIZE),
        )
        if not rows:
            break
        await db.executemany("UPDATE contacts SET verified = 1 WHERE id = ?", [(r[0],) for r in rows])
        last_id = rows[-1][0]
        done += len(rows)
        logger.info("verified %d contacts so far", done)
    await db.commit()


async def down(db: Database) -> None:
    await db.execute("ALTER TABLE contacts DROP COLUMN verified")
