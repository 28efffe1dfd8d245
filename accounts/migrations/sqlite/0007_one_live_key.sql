-- One live signing key per pool and algorithm: instances that start together on an empty
-- database each tried to create the pool's first keys, and published different JWKS until
-- they reloaded. The first insert wins now; the others read its key.
--
-- Duplicates made before this migration retire, all but the newest of each pool and
-- algorithm, a day and five minutes after that newest one was made: every token they
-- signed has expired by then (lifetimes are at most a day), as with a rotation.
UPDATE signing_key SET retires_at = (
    SELECT MAX(k.created_at) FROM signing_key k
    WHERE k.pool_id = signing_key.pool_id AND k.alg = signing_key.alg AND k.retires_at IS NULL
) + 86700
WHERE retires_at IS NULL AND EXISTS (
    SELECT 1 FROM signing_key k
    WHERE k.pool_id = signing_key.pool_id AND k.alg = signing_key.alg AND k.retires_at IS NULL
      AND (k.created_at > signing_key.created_at
           OR (k.created_at = signing_key.created_at AND k.kid > signing_key.kid))
);

CREATE UNIQUE INDEX signing_key_live_key ON signing_key (pool_id, alg) WHERE retires_at IS NULL;
