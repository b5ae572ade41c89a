-- One row rewritten by the storage probe (start-up, and /ready while writes fail): proves that the
-- database takes writes, so a read-only or full disk is caught before a client's write is.
CREATE TABLE storage_probe (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  at TEXT NOT NULL
) STRICT;
INSERT INTO storage_probe (id, at) VALUES (1, '');
