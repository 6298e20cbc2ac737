-- pg_schema.sql — the ledger a typical PostgreSQL wallet keeps, for
-- comparison with Qianbao (bench/http/run). psql -v accounts=N -v balance=M.
--
-- One row per account with its balance, guarded by a CHECK so that no bug
-- can overdraw it; one journal row per transfer, with the client's
-- idempotency key unique, as a ledger that answers retries needs.
SET client_min_messages = warning;
DROP TABLE IF EXISTS transfers;
DROP TABLE IF EXISTS accounts;

CREATE TABLE accounts (
    id            bigint PRIMARY KEY,
    balance_minor bigint NOT NULL CHECK (balance_minor >= 0),
    currency      char(3) NOT NULL DEFAULT 'CNY',
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE transfers (
    id                bigserial PRIMARY KEY,
    idempotency_key   text NOT NULL UNIQUE,
    debit_account_id  bigint NOT NULL REFERENCES accounts (id),
    credit_account_id bigint NOT NULL REFERENCES accounts (id),
    amount_minor      bigint NOT NULL CHECK (amount_minor > 0),
    memo              text,
    created_at        timestamptz NOT NULL DEFAULT now()
);

INSERT INTO accounts (id, balance_minor)
SELECT g, :balance FROM generate_series(1, :accounts) AS g;

VACUUM ANALYZE accounts;
