-- What Koppel does with a document dated in a period Visma has locked (AccountingLockedTo):
-- 'refuse' dead-letters it with the lock date (a person unlocks the period or decides),
-- 'post_on_first_open_day' posts its voucher on the day after the lock date.
ALTER TABLE connections ADD COLUMN locked_period_policy text NOT NULL DEFAULT 'refuse'
    CHECK (locked_period_policy IN ('refuse', 'post_on_first_open_day'));
