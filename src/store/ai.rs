//! Assistant conversations: one row per conversation, its messages in order.

use chrono::{DateTime, Utc};

use super::{in_tx, on_pool, Store, StoreError};

/// One stored message.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct StoredMessage {
    pub role: String,
    pub content: String,
    /// JSON with the tool calls and offers of an assistant message.
    pub data: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Whether conversation `id` exists and belongs to `owner`.
    #[tracing::instrument(skip_all)]
    pub async fn conversation_owned(&self, id: &str, owner: &str) -> Result<bool, StoreError> {
        let sql = "SELECT COUNT(*) FROM ai_conversations WHERE id = $1 AND owner = $2";
        let n: i64 = on_pool!(self, |pool| sqlx::query_scalar(sql)
            .bind(id)
            .bind(owner)
            .fetch_one(pool)
            .await)?;
        Ok(n > 0)
    }

    /// Appends `messages` (role, content, data) to conversation `id`, creating it for
    /// `owner` when new; one transaction.
    #[tracing::instrument(skip_all)]
    pub async fn append_messages(
        &self,
        id: &str,
        owner: &str,
        messages: &[(&str, &str, Option<&str>)],
    ) -> Result<(), StoreError> {
        let now = super::now();
        let upsert = "INSERT INTO ai_conversations (id, owner, created_at, updated_at) \
            VALUES ($1, $2, $3, $3) ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at";
        let insert = "INSERT INTO ai_messages (conversation_id, role, content, data, created_at) \
            VALUES ($1, $2, $3, $4, $5)";
        in_tx!(self, |tx| {
            sqlx::query(upsert)
                .bind(id)
                .bind(owner)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            for (role, content, data) in messages {
                sqlx::query(insert)
                    .bind(id)
                    .bind(role)
                    .bind(content)
                    .bind(data)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(())
    }

    /// The newest `limit` messages of conversation `id`, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn conversation_messages(
        &self,
        id: &str,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let sql = "SELECT role, content, data, created_at FROM ai_messages \
            WHERE conversation_id = $1 ORDER BY id DESC LIMIT $2";
        let mut rows = on_pool!(self, |pool| sqlx::query_as::<_, StoredMessage>(sql)
            .bind(id)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        rows.reverse();
        Ok(rows)
    }
}
