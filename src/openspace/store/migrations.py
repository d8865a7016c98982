"""Versioned schema migrations, applied in order at start-up (tracked in `PRAGMA user_version`).

Append a new entry to change the schema; never edit one that has shipped.
"""

MIGRATIONS: list[str] = [
    # 1: the live board
    """
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
        head_seq INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
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
        "end" TEXT NOT NULL
    );
    CREATE INDEX slots_event ON slots(event_id);
    CREATE TABLE participants (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX participants_event ON participants(event_id);
    CREATE TABLE topics (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        title TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        convener_id TEXT REFERENCES participants(id) ON DELETE SET NULL,
        convener_name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL CHECK (status IN ('open', 'hidden')),
        slot_id TEXT REFERENCES slots(id),
        space_id TEXT REFERENCES spaces(id),
        version INTEGER NOT NULL,
        created_seq INTEGER NOT NULL
    );
    CREATE INDEX topics_event ON topics(event_id);
    -- one topic per cell, enforced by the database as well as by the rules
    CREATE UNIQUE INDEX topics_cell ON topics(event_id, slot_id, space_id) WHERE slot_id IS NOT NULL;
    CREATE TABLE facilitator_sessions (
        token_hash TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE TABLE changes (
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        patch TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (event_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE applied_actions (
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        actor TEXT NOT NULL,
        action_id TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (event_id, actor, action_id)
    ) WITHOUT ROWID;
    """,
    # 2: facilitating the marketplace: phases, pitch queue, interest, merges, pins, announcements
    """
    ALTER TABLE events ADD COLUMN phase TEXT NOT NULL DEFAULT 'marketplace';
    ALTER TABLE events ADD COLUMN self_placement INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE events ADD COLUMN spotlight TEXT;
    ALTER TABLE events ADD COLUMN bell_until TEXT NOT NULL DEFAULT '';
    -- topics gain a status ('merged') that the old CHECK refuses: rebuild the table (nothing
    -- refers to it yet, so this is SQLite's plain copy-and-rename)
    CREATE TABLE topics_new (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        title TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        convener_id TEXT REFERENCES participants(id) ON DELETE SET NULL,
        convener_name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL CHECK (status IN ('open', 'hidden', 'merged')),
        slot_id TEXT REFERENCES slots(id),
        space_id TEXT REFERENCES spaces(id),
        version INTEGER NOT NULL,
        created_seq INTEGER NOT NULL,
        pinned INTEGER NOT NULL DEFAULT 0,
        queued_seq INTEGER,
        co_convener_ids TEXT NOT NULL DEFAULT '',
        co_conveners TEXT NOT NULL DEFAULT '',
        interest INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO topics_new (id, event_id, title, description, convener_id, convener_name, status, slot_id,
                            space_id, version, created_seq)
        SELECT id, event_id, title, description, convener_id, convener_name, status, slot_id, space_id,
               version, created_seq FROM topics;
    DROP TABLE topics;
    ALTER TABLE topics_new RENAME TO topics;
    CREATE INDEX topics_event ON topics(event_id);
    CREATE UNIQUE INDEX topics_cell ON topics(event_id, slot_id, space_id) WHERE slot_id IS NOT NULL;
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
    """,
    # 3: the law of two feet: who is where (private), head counts and flow (public)
    """
    ALTER TABLE slots ADD COLUMN moves INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE topics ADD COLUMN headcount INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE topics ADD COLUMN arrived INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE topics ADD COLUMN "left" INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE attendance (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        slot_id TEXT NOT NULL REFERENCES slots(id) ON DELETE CASCADE,
        topic_id TEXT NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
        participant_id TEXT NOT NULL REFERENCES participants(id) ON DELETE CASCADE
    );
    CREATE INDEX attendance_event ON attendance(event_id);
    """,
    # 4: the harvest: reports and their revisions, photos, dot-voting, action items
    """
    ALTER TABLE events ADD COLUMN voting_dots INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE topics ADD COLUMN dots INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE reports (
        id TEXT PRIMARY KEY REFERENCES topics(id) ON DELETE CASCADE,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        participants TEXT NOT NULL DEFAULT '',
        discussion TEXT NOT NULL DEFAULT '',
        insights TEXT NOT NULL DEFAULT '',
        recommendations TEXT NOT NULL DEFAULT '',
        html TEXT NOT NULL DEFAULT '{}',
        revision INTEGER NOT NULL DEFAULT 0,
        locked INTEGER NOT NULL DEFAULT 0,
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
    # 5: proceedings: their licence, and whether they are published
    """
    ALTER TABLE events ADD COLUMN licence TEXT NOT NULL DEFAULT 'CC BY 4.0';
    ALTER TABLE events ADD COLUMN published INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: hybrid events and the world outside (#18): call links and online-only spaces, following
    # online, announcements for online participants; revocable personal calendars and the
    # calendar's own SEQUENCE per entry; webhooks and their durable outbox
    """
    ALTER TABLE spaces ADD COLUMN video_url TEXT NOT NULL DEFAULT '';
    ALTER TABLE spaces ADD COLUMN virtual INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE topics ADD COLUMN online INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE attendance ADD COLUMN online INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE announcements ADD COLUMN audience TEXT NOT NULL DEFAULT '';
    ALTER TABLE participants ADD COLUMN calendar_generation INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE calendar_entries (
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        uid TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        changed_at TEXT NOT NULL,
        PRIMARY KEY (event_id, uid)
    ) WITHOUT ROWID;
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        kinds TEXT NOT NULL,
        format TEXT NOT NULL DEFAULT 'standard' CHECK (format IN ('standard', 'chat')),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX webhooks_event ON webhooks(event_id);
    CREATE TABLE webhook_outbox (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
        last_status INTEGER,
        last_error TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox(state, next_at);
    CREATE INDEX webhook_outbox_event ON webhook_outbox(event_id, created_at);
    """,
    # 7: reports written together (issue #16): each report's CRDT document, stored as its state
    # at `compacted` plus the tail of updates after it, numbered gap-free per report
    """
    CREATE TABLE report_docs (
        topic_id TEXT PRIMARY KEY REFERENCES topics(id) ON DELETE CASCADE,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        state BLOB NOT NULL,
        compacted INTEGER NOT NULL,
        head INTEGER NOT NULL
    );
    CREATE INDEX report_docs_event ON report_docs(event_id);
    CREATE TABLE report_updates (
        topic_id TEXT NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
        rseq INTEGER NOT NULL,
        event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        data BLOB NOT NULL,
        PRIMARY KEY (topic_id, rseq)
    ) WITHOUT ROWID;
    CREATE INDEX report_updates_event ON report_updates(event_id);
    """,
    # 8: breaks as labelled slots (#15): a slot with a label (lunch, coffee) holds no session
    """
    ALTER TABLE slots ADD COLUMN label TEXT NOT NULL DEFAULT '';
    """,
]
