"""The PostgreSQL schema: the same tables as SQLite's migrations arrive at, in PostgreSQL's types.

Versioned like SQLite's (`MIGRATIONS`, applied in order, never edited once shipped); the version
is kept in `schema_version`, and migrating takes an advisory lock, so several workers starting at
once apply each step exactly once.
"""

NOW = """(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))"""

MIGRATIONS: list[str] = [
    # 1: everything SQLite's migrations 1 to 5 built
    f"""
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE events (
        id TEXT PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        theme TEXT NOT NULL DEFAULT '',
        venue TEXT NOT NULL DEFAULT '',
        starts_on TEXT NOT NULL,
        ends_on TEXT NOT NULL,
        timezone TEXT NOT NULL,
        language TEXT NOT NULL,
        facilitator_secret_hash TEXT NOT NULL,
        head_seq BIGINT NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL DEFAULT {NOW},
        phase TEXT NOT NULL DEFAULT 'marketplace',
        self_placement BOOLEAN NOT NULL DEFAULT FALSE,
        spotlight TEXT,
        bell_until TEXT NOT NULL DEFAULT '',
        voting_dots INTEGER NOT NULL DEFAULT 0,
        licence TEXT NOT NULL DEFAULT 'CC BY 4.0',
        published BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE TABLE spaces (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        capacity INTEGER,
        position INTEGER NOT NULL
    );
    CREATE INDEX spaces_event ON spaces(event_id);
    CREATE TABLE slots (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        day TEXT NOT NULL,
        start TEXT NOT NULL,
        "end" TEXT NOT NULL,
        moves INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX slots_event ON slots(event_id);
    CREATE TABLE participants (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL DEFAULT {NOW}
    );
    CREATE INDEX participants_event ON participants(event_id);
    CREATE TABLE topics (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        title TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        convener_id TEXT REFERENCES participants(id) ON DELETE SET NULL,
        convener_name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL CHECK (status IN ('open', 'hidden', 'merged')),
        slot_id TEXT REFERENCES slots(id) DEFERRABLE INITIALLY DEFERRED,
        space_id TEXT REFERENCES spaces(id) DEFERRABLE INITIALLY DEFERRED,
        version INTEGER NOT NULL,
        created_seq BIGINT NOT NULL,
        pinned BOOLEAN NOT NULL DEFAULT FALSE,
        queued_seq BIGINT,
        co_convener_ids TEXT NOT NULL DEFAULT '',
        co_conveners TEXT NOT NULL DEFAULT '',
        interest INTEGER NOT NULL DEFAULT 0,
        headcount INTEGER NOT NULL DEFAULT 0,
        arrived INTEGER NOT NULL DEFAULT 0,
        "left" INTEGER NOT NULL DEFAULT 0,
        dots INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX topics_event ON topics(event_id);
    CREATE UNIQUE INDEX topics_cell ON topics(event_id, slot_id, space_id) WHERE slot_id IS NOT NULL;
    CREATE TABLE facilitator_sessions (
        token_hash TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL DEFAULT {NOW}
    );
    CREATE TABLE changes (
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        patch TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT {NOW},
        PRIMARY KEY (event_id, seq)
    );
    CREATE TABLE applied_actions (
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        actor TEXT NOT NULL,
        action_id TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT {NOW},
        PRIMARY KEY (event_id, actor, action_id)
    );
    CREATE TABLE interests (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        topic_id TEXT NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
        participant_id TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE
    );
    CREATE INDEX interests_event ON interests(event_id);
    CREATE TABLE merges (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        "into" TEXT NOT NULL,
        merged TEXT NOT NULL,
        before TEXT NOT NULL
    );
    CREATE INDEX merges_event ON merges(event_id);
    CREATE TABLE announcements (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        text TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX announcements_event ON announcements(event_id);
    CREATE TABLE attendance (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        slot_id TEXT NOT NULL REFERENCES slots(id) ON DELETE CASCADE,
        topic_id TEXT NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
        participant_id TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE
    );
    CREATE INDEX attendance_event ON attendance(event_id);
    CREATE TABLE reports (
        id TEXT PRIMARY KEY REFERENCES topics(id) ON DELETE CASCADE,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        participants TEXT NOT NULL DEFAULT '',
        discussion TEXT NOT NULL DEFAULT '',
        insights TEXT NOT NULL DEFAULT '',
        recommendations TEXT NOT NULL DEFAULT '',
        html TEXT NOT NULL DEFAULT '{{}}',
        revision INTEGER NOT NULL DEFAULT 0,
        locked BOOLEAN NOT NULL DEFAULT FALSE,
        updated_at TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX reports_event ON reports(event_id);
    CREATE TABLE revisions (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        topic_id TEXT NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
        revision INTEGER NOT NULL,
        fields TEXT NOT NULL,
        author TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
    );
    CREATE INDEX revisions_event ON revisions(event_id);
    CREATE TABLE photos (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        topic_id TEXT NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
        name TEXT NOT NULL UNIQUE,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        thumb_width INTEGER NOT NULL,
        thumb_height INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX photos_event ON photos(event_id);
    CREATE TABLE votes (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        participant_id TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
        topic_id TEXT NOT NULL REFERENCES topics(id) ON DELETE CASCADE
    );
    CREATE INDEX votes_event ON votes(event_id);
    CREATE TABLE actions (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        topic_id TEXT NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
        what TEXT NOT NULL,
        who TEXT NOT NULL DEFAULT '',
        due TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX actions_event ON actions(event_id);
    """,
    # 2: hybrid events (#18): call links and online-only spaces, following online, announcements
    # for online participants. (Webhooks and calendar sequences came later, in 4.)
    """
    ALTER TABLE spaces ADD COLUMN video_url TEXT NOT NULL DEFAULT '';
    ALTER TABLE spaces ADD COLUMN virtual BOOLEAN NOT NULL DEFAULT FALSE;
    ALTER TABLE topics ADD COLUMN online INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE attendance ADD COLUMN online BOOLEAN NOT NULL DEFAULT FALSE;
    ALTER TABLE announcements ADD COLUMN audience TEXT NOT NULL DEFAULT '';
    ALTER TABLE participants ADD COLUMN calendar_generation INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: reports written together (#16): each report's CRDT state and the tail of its updates
    """
    CREATE TABLE report_docs (
        topic_id TEXT PRIMARY KEY REFERENCES topics(id) ON DELETE CASCADE,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        state BYTEA NOT NULL,
        compacted INTEGER NOT NULL,
        head INTEGER NOT NULL
    );
    CREATE INDEX report_docs_event ON report_docs(event_id);
    CREATE TABLE report_updates (
        topic_id TEXT NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
        rseq INTEGER NOT NULL,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        data BYTEA NOT NULL,
        PRIMARY KEY (topic_id, rseq)
    );
    CREATE INDEX report_updates_event ON report_updates(event_id);
    """,
    # 4: the world outside (#18), as SQLite's migration 6 has it: each calendar entry's own
    # SEQUENCE, webhooks and their durable outbox (store/outbound.py)
    f"""
    CREATE TABLE calendar_entries (
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        uid TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        changed_at TEXT NOT NULL,
        PRIMARY KEY (event_id, uid)
    );
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        kinds TEXT NOT NULL,
        format TEXT NOT NULL DEFAULT 'standard' CHECK (format IN ('standard', 'chat')),
        created_at TEXT NOT NULL DEFAULT {NOW}
    );
    CREATE INDEX webhooks_event ON webhooks(event_id);
    CREATE TABLE webhook_outbox (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at DOUBLE PRECISION NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
        last_status INTEGER,
        last_error TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL DEFAULT {NOW},
        updated_at TEXT NOT NULL DEFAULT {NOW}
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox(state, next_at);
    CREATE INDEX webhook_outbox_event ON webhook_outbox(event_id, created_at);
    """,
    # 5: photos' files (store/pg_files.py), so every host serves them and pg_dump backs them up:
    # each file in parts of at most a MiB. JPEG does not compress: stored as it is, out of line.
    """
    CREATE TABLE files (
        key TEXT NOT NULL,
        part INTEGER NOT NULL,
        data BYTEA NOT NULL,
        PRIMARY KEY (key, part)
    );
    ALTER TABLE files ALTER COLUMN data SET STORAGE EXTERNAL;
    """,
    # 6: breaks as labelled slots (#15), as SQLite's 8
    """
    ALTER TABLE slots ADD COLUMN label TEXT NOT NULL DEFAULT '';
    """,
]
