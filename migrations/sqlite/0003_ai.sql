-- Assistant conversations and their messages. `owner` is the caller's identity
-- (the user id once accounts exist; `anonymous` before).
CREATE TABLE ai_conversations (
    id         TEXT PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ai_conversations_by_owner ON ai_conversations (owner, updated_at);

CREATE TABLE ai_messages (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES ai_conversations (id),
    role            TEXT NOT NULL,
    content         TEXT NOT NULL,
    data            TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX ai_messages_by_conversation ON ai_messages (conversation_id, id);
