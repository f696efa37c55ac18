-- A rate budget shared by every Koppel process (store/rate_budget.py).
--
-- An API allows `calls` per sliding `window` per key (Teamleader: the account; Visma: the
-- endpoint). Each key owns a ring of `calls` slots; the k-th call on a key takes slot
-- k mod calls and may be sent no earlier than that slot's previous call + window. Every
-- slot then holds at most one call in any window, so no window holds more than `calls`
-- calls, whichever process sent them — the exact sliding window the servers count, with
-- its first-window burst. Times are the database's clock_timestamp(), so processes on
-- different machines agree. A slot is reserved for the future when the window is full:
-- the caller sleeps until it, without asking again.

CREATE TABLE rate_budget (
    key text PRIMARY KEY,
    calls integer NOT NULL CHECK (calls > 0),
    -- How many calls were ever reserved on this key; the next one takes slot `taken % calls`.
    taken bigint NOT NULL DEFAULT 0,
    -- A server's "wait" (a 429, or Teamleader's X-RateLimit-Remaining 0) for all processes.
    held_until timestamptz NOT NULL DEFAULT '-infinity',
    -- When each slot's last call was (or will be) sent; index i is slot i - 1.
    slots timestamptz[] NOT NULL
);

-- Reserve one call on `budget_key`: the seconds the caller must wait before sending it, the
-- slot it took, and whether the ring is hot (that slot is new, or was used within the last two
-- windows: calls come at about the limit), when the caller should say when the answer came.
CREATE FUNCTION rate_budget_take(
    budget_key text, budget_calls integer, window_s double precision,
    OUT wait_s double precision, OUT slot integer, OUT hot boolean
)
LANGUAGE plpgsql AS $$
DECLARE
    row rate_budget%ROWTYPE;
    now_at timestamptz;
    send_at timestamptz;
BEGIN
    SELECT * INTO row FROM rate_budget WHERE key = budget_key FOR UPDATE;
    IF NOT FOUND OR row.calls <> budget_calls THEN
        -- First use, or the limit changed: start the ring afresh (a changed limit is rare,
        -- and only a restart of every process changes it).
        INSERT INTO rate_budget (key, calls, slots)
        VALUES (budget_key, budget_calls, array_fill('-infinity'::timestamptz, ARRAY[budget_calls]))
        ON CONFLICT (key) DO UPDATE SET calls = excluded.calls, taken = 0, slots = excluded.slots
        WHERE rate_budget.calls <> excluded.calls;
        SELECT * INTO row FROM rate_budget WHERE key = budget_key FOR UPDATE;
    END IF;
    -- Read after the lock, so reservations on a key are stamped in the order they are made.
    now_at := clock_timestamp();
    slot := (row.taken % row.calls)::integer + 1;
    send_at := greatest(now_at, row.held_until, row.slots[slot] + make_interval(secs => window_s));
    -- Never used (the ring's first burst) or used within the last two windows.
    hot := row.slots[slot] = '-infinity'
        OR row.slots[slot] > now_at - make_interval(secs => 2 * window_s);
    UPDATE rate_budget SET taken = taken + 1, slots[slot] = send_at WHERE key = budget_key;
    wait_s := extract(epoch FROM send_at - now_at);
END;
$$;

-- The call in `slot` was answered now. The slot is stamped when it is reserved, but the server
-- counts the call when it arrives, later by however long the caller took to send it; while
-- the ring is hot, moving the stamp to the answer makes the slot's next call at least a
-- window after the server counted this one, however slow the caller was.
CREATE FUNCTION rate_budget_release(budget_key text, budget_calls integer, budget_slot integer)
RETURNS void
LANGUAGE sql AS $$
    UPDATE rate_budget SET slots[budget_slot] = greatest(slots[budget_slot], clock_timestamp())
    WHERE key = budget_key AND calls = budget_calls;
$$;

-- Send nothing on `budget_key` for `seconds` from now (the server asked every caller to wait).
CREATE FUNCTION rate_budget_hold(budget_key text, budget_calls integer, seconds double precision)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO rate_budget (key, calls, held_until, slots)
    VALUES (budget_key, budget_calls, clock_timestamp() + make_interval(secs => seconds),
            array_fill('-infinity'::timestamptz, ARRAY[budget_calls]))
    ON CONFLICT (key) DO UPDATE
    SET held_until = greatest(rate_budget.held_until, excluded.held_until);
$$;
