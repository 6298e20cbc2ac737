-- pg_one_statement.sql — one transfer as one statement (pgbench script).
--
-- Debit with the balance check in its WHERE, credit only when the debit
-- happened, journal row only when both did: one round trip, one implicit
-- transaction, one commit (fsync, synchronous_commit=on). A refused
-- transfer (balance too low) changes nothing and inserts nothing.
-- The two row locks are taken payer first; pgbench --max-tries retries the
-- rare deadlock of two opposite transfers, and the run reports them.
\set a random(1, :accounts)
\set b random(1, :accounts - 1)
\set b CASE WHEN :b >= :a THEN :b + 1 ELSE :b END
\set amount random(1, 100)
WITH debit AS (
    UPDATE accounts SET balance_minor = balance_minor - :amount, updated_at = now()
    WHERE id = :a AND balance_minor >= :amount
    RETURNING id
), credit AS (
    UPDATE accounts SET balance_minor = balance_minor + :amount, updated_at = now()
    WHERE id = :b AND EXISTS (SELECT 1 FROM debit)
    RETURNING id
)
INSERT INTO transfers (idempotency_key, debit_account_id, credit_account_id, amount_minor, memo)
SELECT gen_random_uuid()::text, :a, :b, :amount, 'bench' FROM credit;
