-- Each connection's webhook secret (issue 15): the token of its webhook URL,
-- /teamleader/<connection id>/<token>, encrypted with Fernet like the OAuth tokens (under
-- KOPPEL_TOKEN_KEY's first key; `koppel keys rotate` re-encrypts it with the tokens).
--
-- Until now every token was an HMAC of the connection id under KOPPEL_TOKEN_KEY, so changing
-- the key changed every URL, and no single URL could be revoked. A connection gets its row
-- on first use (`koppel webhooks register`, `koppel keys rotate`); without one it keeps the
-- key-derived token, so the URL Teamleader already holds keeps working (SQL cannot compute
-- it: the key is not in the database). `koppel webhooks rotate` replaces the secret.
CREATE TABLE webhook_secrets (
    connection_id uuid PRIMARY KEY REFERENCES connections ON DELETE CASCADE,
    secret bytea NOT NULL,
    rotated_at timestamptz NOT NULL DEFAULT now()
);
