-- Block relay (SPEC §4): the first copy of each block's document, and per-sender counters.
CREATE TABLE relay_blocks (
  number      INTEGER PRIMARY KEY,
  hash        TEXT,
  bytes       INTEGER NOT NULL,
  received_at TEXT NOT NULL,
  sender      TEXT NOT NULL,
  html        BLOB NOT NULL
) STRICT;

CREATE TABLE relay_clients (
  address    TEXT PRIMARY KEY,
  frames     INTEGER NOT NULL DEFAULT 0,
  bytes      INTEGER NOT NULL DEFAULT 0,
  duplicates INTEGER NOT NULL DEFAULT 0,
  rejected   INTEGER NOT NULL DEFAULT 0,
  first_seen TEXT NOT NULL,
  last_seen  TEXT NOT NULL
) STRICT, WITHOUT ROWID;
