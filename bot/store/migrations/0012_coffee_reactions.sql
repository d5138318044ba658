-- Classmates' reactions on coffee-shop celebrations, one row per (post, person, emoji), so the
-- digest counts distinct (post, person) pairs, a removed reaction stops counting, and staff
-- (never stored) don't count. Replaces the coffee_posts.reactions counter (kept, unused).
CREATE TABLE coffee_celebration_reactions (
    guild_id   INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    emoji      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, message_id, user_id, emoji)
) WITHOUT ROWID;
CREATE INDEX coffee_celebration_reactions_by_user
    ON coffee_celebration_reactions (guild_id, user_id);
