-- Channel keys derived once per connection per secret (Argon2id is deliberately costly),
-- kept encrypted under the master key and bound to the wrapped secret they came from.
-- NULL until derived: connections from before this migration derive on first use.
ALTER TABLE connections ADD COLUMN wrapped_channel_key TEXT;
