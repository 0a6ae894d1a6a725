"""The catalog queries of the PostgreSQL backend: columns, indexes, what to drop, who holds the lock."""

# Built-in type names in capitals (`INTEGER`, `TEXT`), as migrations usually spell them.
COLUMNS = """
SELECT a.attname AS name,
       CASE WHEN ty.typnamespace = 'pg_catalog'::regnamespace
            THEN upper(format_type(a.atttypid, a.atttypmod))
            ELSE format_type(a.atttypid, a.atttypmod) END AS type,
       a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS "default",
       coalesce(a.attnum = ANY(pk.indkey), false) AS pk
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_index pk ON pk.indrelid = c.oid AND pk.indisprimary
WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
  AND c.relname = $1 AND c.relkind IN ('r', 'p', 'f', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


# Primary keys show on their columns (as SQLite's PRAGMA does), not as indexes.
INDEXES = """
SELECT ic.relname AS name, i.indisunique AS "unique",
       array(SELECT coalesce(a.attname, '<expr>')
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE k.n <= i.indnkeyatts ORDER BY k.n) AS columns
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
  AND t.relname = $1 AND NOT i.indisprimary
ORDER BY ic.relname
"""


# Objects of the current schema that belong to no extension, in the order they are dropped.
# Sequences owned by a column go with their table; array and row types with their owner.
DROPPABLE = """
WITH s AS (SELECT oid FROM pg_namespace WHERE nspname = current_schema()),
ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
SELECT 0 AS rank, CASE c.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END AS kind,
       c.relname AS name, format('%I.%I', n.nspname, c.relname) AS target
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, s
WHERE c.relnamespace = s.oid AND c.relkind IN ('v', 'm')
  AND NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_class'::regclass AND objid = c.oid)
UNION ALL
SELECT 1, CASE c.relkind WHEN 'f' THEN 'foreign table' ELSE 'table' END, c.relname,
       format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, s
WHERE c.relnamespace = s.oid AND c.relkind IN ('r', 'p', 'f') AND NOT c.relispartition
  AND NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_class'::regclass AND objid = c.oid)
UNION ALL
SELECT 2, 'sequence', c.relname, format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, s
WHERE c.relnamespace = s.oid AND c.relkind = 'S'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
UNION ALL
SELECT 3, CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
       format('%s(%s)', p.proname, pg_get_function_identity_arguments(p.oid)),
       format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace, s
WHERE p.pronamespace = s.oid AND p.prokind IN ('f', 'p', 'a')
  AND NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_proc'::regclass AND objid = p.oid)
UNION ALL
SELECT 4, CASE t.typtype WHEN 'd' THEN 'domain' ELSE 'type' END, t.typname,
       format('%I.%I', n.nspname, t.typname)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace, s
WHERE t.typnamespace = s.oid
  AND (t.typtype IN ('e', 'd', 'r')
       OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
  AND NOT EXISTS (SELECT 1 FROM ext WHERE classid = 'pg_type'::regclass AND objid = t.oid)
UNION ALL
SELECT 5, 'extension', e.extname, format('%I', e.extname)
FROM pg_extension e, s WHERE e.extnamespace = s.oid
ORDER BY 1, 3
"""


LOCK_HOLDER = """
SELECT a.pid, a.usename, a.application_name, host(a.client_addr) AS client, a.backend_start, a.state
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = $1 AND l.objid = $2
"""


# Every object of the current schema that belongs to no extension, as its definition, hashed:
# tables and their columns, constraints, indexes, views, triggers, functions, sequences, types.
FINGERPRINT = """
WITH s AS (SELECT oid FROM pg_namespace WHERE nspname = current_schema()),
ext AS (SELECT objid FROM pg_depend WHERE deptype = 'e'),
rel AS (SELECT c.oid, c.relname, c.relkind FROM pg_class c, s
        WHERE c.relnamespace = s.oid AND left(c.relname, length($1)) <> $1
          AND c.oid NOT IN (SELECT objid FROM ext)),
defs AS (
    SELECT 'c ' || r.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') AS def
    FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = r.oid AND d.adnum = a.attnum
    WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f')
    UNION ALL
    SELECT 'k ' || r.relname || ' ' || pg_get_constraintdef(k.oid)
    FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid
    UNION ALL
    SELECT 'i ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN rel r ON r.oid = i.indrelid
    UNION ALL
    SELECT 'v ' || r.relname || ' ' || pg_get_viewdef(r.oid) FROM rel r WHERE r.relkind IN ('v', 'm')
    UNION ALL
    SELECT 't ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid
    WHERE NOT t.tgisinternal
    UNION ALL
    SELECT 'f ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || md5(p.prosrc)
    FROM pg_proc p, s WHERE p.pronamespace = s.oid AND left(p.proname, length($1)) <> $1
      AND p.oid NOT IN (SELECT objid FROM ext)
    UNION ALL
    SELECT 's ' || r.relname FROM rel r WHERE r.relkind = 'S'
    UNION ALL
    SELECT 'e ' || t.typname || ' ' || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                                                 FROM pg_enum e WHERE e.enumtypid = t.oid), '')
    FROM pg_type t, s WHERE t.typnamespace = s.oid AND t.typtype IN ('e', 'd')
      AND t.oid NOT IN (SELECT objid FROM ext)
)
SELECT md5(coalesce(string_agg(def, E'\\n' ORDER BY def), '')) FROM defs
"""
