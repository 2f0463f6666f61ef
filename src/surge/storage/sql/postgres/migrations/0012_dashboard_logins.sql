-- Dashboard logins (engine/logins.py), in the database so that every node honours them.
-- A session is stored by the SHA-256 of its cookie's token, never the token itself; it holds
-- the CSRF token its forms carry and a tag of the password it was opened with (a new password
-- ends it).
CREATE TABLE dashboard_sessions (
    token_hash    TEXT PRIMARY KEY,
    csrf_token    TEXT NOT NULL,
    password_tag  TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

-- Login attempts per client address in the current window, shared by every node so that
-- the limit holds however requests are spread.
CREATE TABLE login_attempts (
    address       TEXT PRIMARY KEY,
    window_start  BIGINT NOT NULL,
    attempts      INTEGER NOT NULL
);
