-- pg_interactive.sql — one transfer as an application usually writes it
-- (pgbench script): an explicit transaction that locks both accounts in id
-- order (no deadlocks), checks the payer's balance in the client, then two
-- updates and the journal insert. Six round trips, one commit (fsync).
\set a random(1, :accounts)
\set b random(1, :accounts - 1)
\set b CASE WHEN :b >= :a THEN :b + 1 ELSE :b END
\set amount random(1, 100)
BEGIN;
SELECT coalesce(sum(balance_minor) FILTER (WHERE id = :a), 0) AS payer_balance
FROM (SELECT id, balance_minor FROM accounts WHERE id IN (:a, :b) ORDER BY id FOR UPDATE) AS locked \gset
\if :payer_balance >= :amount
UPDATE accounts SET balance_minor = balance_minor - :amount, updated_at = now() WHERE id = :a;
UPDATE accounts SET balance_minor = balance_minor + :amount, updated_at = now() WHERE id = :b;
INSERT INTO transfers (idempotency_key, debit_account_id, credit_account_id, amount_minor, memo)
VALUES (gen_random_uuid()::text, :a, :b, :amount, 'bench');
COMMIT;
\else
ROLLBACK;
\endif
