"""Settings read once from ``KOPPEL_*`` environment variables.

Units are in the names (``*_s`` seconds, ``*_ms`` milliseconds). The defaults point at the
services on localhost and at the sandbox simulators, so the demo needs no configuration;
a production deployment sets the real base URLs and OAuth client credentials.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SANDBOX_TEAMLEADER_URL = "http://127.0.0.1:8701"
SANDBOX_VISMA_URL = "http://127.0.0.1:8702"


#: Database sessions one poll thread may hold at once: the connection's round lock (held for
#: the round, producers/poller.py), a token refresh lock (store/token_store.py ``refresh_lock``,
#: held while a token is refreshed) and the statement in hand.
SESSIONS_PER_POLL_THREAD = 3

#: RabbitMQ closes the channel of a consumer holding a delivery unacked longer than its
#: ``consumer_timeout`` (30 minutes by default), and Dramatiq's worker holds a delayed message
#: unacked until it is due. So no delay, a retry's or a wait's, may come near it: a longer
#: wait is spent in hops of at most ``retry_max_backoff_ms``, which stays under this.
LONGEST_DELAY_MS = 20 * 60_000


def split_token_keys(value: str) -> list[str]:
    """The keys of a ``KOPPEL_TOKEN_KEY`` value, newest first: one key, or several separated
    by commas while keys rotate (blanks around a comma and empty items are ignored)."""
    return [key.strip() for key in value.split(",") if key.strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOPPEL_", extra="ignore")

    # Infrastructure.
    database_url: str = "postgresql://root@127.0.0.1:5432/test"
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"

    # Teamleader Focus. The real API lives on two hosts: OAuth on focus.teamleader.eu and
    # the RPC API on api.focus.teamleader.eu. Against the sandbox both are the same server.
    teamleader_auth_url: str = "https://focus.teamleader.eu"
    teamleader_api_url: str = "https://api.focus.teamleader.eu"
    teamleader_client_id: str = ""
    teamleader_client_secret: SecretStr = SecretStr("")
    #: Each client is pinned to a dated API version; we always ask for the latest we know.
    teamleader_api_version: str = "2023-09-26"
    #: Teamleader allows 200 calls per sliding minute per account (docs/api-facts.md,
    #: Teamleader §9). Our window is a little longer than the server's: a call is stamped
    #: here before the server counts it, so an exact 60 s window would now and then be 1
    #: call over.
    teamleader_calls_per_window: int = 200
    teamleader_window_s: float = 61.0

    # Visma eAccounting.
    visma_auth_url: str = "https://identity.vismaonline.com"
    visma_api_url: str = "https://eaccountingapi.vismaonline.com/v2"
    visma_client_id: str = ""
    visma_client_secret: SecretStr = SecretStr("")
    #: Visma allows 600 calls per minute per endpoint (docs/api-facts.md, Visma §4); the
    #: window has the same one-second margin as Teamleader's.
    visma_calls_per_window: int = 600
    visma_window_s: float = 61.0
    #: Whom Visma's limit counts: "application" (the OAuth client id × endpoint, shared by
    #: every company connected through it: "counted per client and per endpoint/URL",
    #: docs/api-facts.md, Visma §4) or "company" (client × company × endpoint), for whoever
    #: learns that Visma counts that way.
    visma_rate_scope: Literal["application", "company"] = "application"
    #: Most of an endpoint's budget one connection may take in a window (0..1], so one
    #: connection's backfill leaves the rest for the others (store/rate_budget.py).
    visma_connection_share: float = Field(default=0.5, gt=0, le=1)
    #: Most of an endpoint's budget bulk work of every connection together may take in a
    #: window (0..1]: backfills and poll backlogs (and their returning turns) leave the rest
    #: for live changes, so another connection's new invoice never waits behind them for
    #: the application's Visma budget (store/rate_budget.py, FairShareBudget).
    visma_bulk_share: float = Field(default=0.8, gt=0, le=1)
    #: Rows per list page. Visma's maximum is not documented; a third-party client caps at
    #: 200, so Koppel asks for no more.
    visma_page_size: int = Field(default=200, gt=0, le=1000)
    #: After a posting whose answer was lost, how long (s) Koppel keeps looking for it in
    #: Visma's lists before it posts again: a new item may show in lists only after a delay
    #: (docs/architecture.md#exactly-once). Every unclear posting waits this long when the
    #: write was not applied (a 5xx, a timeout), so it is also how late such a document
    #: posts after an outage: 15 s assumes a lag of seconds (none is documented); raise it
    #: for a Visma seen listing later.
    visma_listing_delay_s: float = Field(default=15.0, ge=0)
    #: How often (s) the Visma payments stream also reads the open items Koppel posted, in
    #: case a payment left their ``ModifiedUtc`` alone (producers/open_items.py): an hour.
    visma_open_items_every_s: float = Field(default=3_600.0, gt=0)
    #: Most items one such pass reads one by one (those paid in full since the last pass,
    #: which drop out of the list of open items); the oldest links first.
    visma_open_items_max: int = Field(default=500, ge=0)

    #: Fernet key (urlsafe base64, 32 bytes) that encrypts stored OAuth tokens and webhook
    #: secrets at rest. While keys rotate, several, comma-separated and newest first: the
    #: first encrypts, any decrypts (``koppel keys rotate``; :attr:`token_keys`). ``koppel
    #: keygen`` prints a fresh one; the demo makes its own.
    token_key: SecretStr = SecretStr("")

    # Polling.
    #: How often the poller reads each connection's changes (15 minutes, like the market).
    poll_interval_s: float = Field(default=900.0, gt=0)
    #: Most of a connection's Teamleader budget its rounds may spend (0..1]. Rounds draw on
    #: a token bucket of this share; once it is spent, the next whole round waits until the
    #: calls it made have refilled, so a short interval never leaves the consumers too few
    #: calls for the documents the rounds found (ops/processes/pacing.py). At 200 calls a
    #: minute and 0.5, a round of 4 calls then comes at most every 2.4 s.
    poll_budget_share: float = Field(default=0.5, gt=0, le=1)
    #: Each poll reads this far behind its watermark, so a change committed late with an
    #: older timestamp is still seen (docs/architecture.md#cursors); the duplicates it
    #: causes are absorbed.
    poll_overlap_s: float = Field(default=300.0, ge=0)
    #: How often (s) a round also checks that the documents and customers Koppel linked
    #: still exist in Teamleader (one list call per 100 of each); a deletion webhook asks
    #: for the check at once (docs/architecture.md#deletions).
    deletion_check_interval_s: float = Field(default=3600.0, ge=0)
    #: Connections one poller polls at once. A connection's round is five API calls that
    #: mostly wait on the network (~100 ms each), so 1,000 connections one after the other
    #: would take over 8 minutes (bench/many_connections.py). Each thread holds up to
    #: :data:`SESSIONS_PER_POLL_THREAD` database sessions at once, so ``poll_threads`` ×
    #: that must fit in ``database_pool_size`` (checked below).
    poll_threads: int = Field(default=16, gt=0)

    # Consumers.
    worker_threads: int = Field(default=8, gt=0)
    #: Transient failures (5xx, timeouts, a credit note whose invoice is not posted) retry
    #: with exponential backoff between these bounds, ``max_retries`` times. The maximum is
    #: also the longest single delay of a wait, and at most :data:`LONGEST_DELAY_MS`.
    retry_min_backoff_ms: int = Field(default=1_000, gt=0)
    retry_max_backoff_ms: int = Field(default=900_000, gt=0, le=LONGEST_DELAY_MS)
    max_retries: int = Field(default=20, ge=0)
    #: How long a message may wait, in seconds, counted from the first of its waits in a row
    #: (consumers/middleware/waits.py). A wait uses up no retry and lasts as long as its
    #: reason: a credit note's invoice still queued (up to 7 days, as long as a dead letter
    #: is kept), another worker holding the document (minutes: a handler runs at most
    #: ``actor_time_limit_ms``), a 429 (as long as the API says, up to an hour in all). A
    #: message still waiting past its limit is dead-lettered, naming what it waited for.
    wait_for_invoice_max_s: float = Field(default=7 * 86_400.0, gt=0)
    wait_for_busy_document_max_s: float = Field(default=600.0, gt=0)
    wait_for_rate_limit_max_s: float = Field(default=3_600.0, gt=0)
    #: Past ``visma_listing_delay_s`` the write goes ahead, so this is only a backstop.
    wait_for_listing_max_s: float = Field(default=3_600.0, gt=0)
    #: A 5xx, a timeout or a lost connection of an API or of PostgreSQL: as long as the
    #: retries with backoff used to allow (20 of them, the longest 15 min: about 3 h). Each
    #: try comes at most a twentieth of the time waited after the last, so Koppel goes on
    #: within seconds of a short outage ending (bench/chaos.py).
    wait_for_service_max_s: float = Field(default=3 * 3_600.0, gt=0)
    #: A message whose connection's next slot in the rate budget is further away than
    #: ``budget_defer_s`` (s) goes back with a delay to that slot, which it keeps, instead of
    #: holding a worker thread (store/rate_budget.py); it waits its turn up to
    #: ``wait_for_budget_max_s`` (s; a backfill of 20,000 invoices at 200 calls a minute
    #: takes about 100 minutes, one of 10 connections' on a shared budget ten times that).
    budget_defer_s: float = Field(default=1.0, ge=0)
    wait_for_budget_max_s: float = Field(default=86_400.0, gt=0)
    #: Most of one backfill's messages in RabbitMQ without an outcome at once
    #: (ops/backfill/run.py): many backfills then share the consumers evenly, whatever
    #: their sizes. 50 is about 35 s of one connection's work at Teamleader's 200 calls a
    #: minute, and more than the machine posts between two looks (0.25 s) without limits.
    backfill_window: int = Field(default=50, gt=0)
    #: A poll round's messages past this many per stream go in the bulk lane, served after
    #: live changes (contracts/broker.py): a round that finds a backlog does not hold up
    #: another connection's next booking.
    live_messages_per_round: int = Field(default=50, ge=0)
    #: An actor that runs longer than this is interrupted (and retried).
    actor_time_limit_ms: int = Field(default=300_000, gt=0)
    #: Most sessions one process's pool opens (on demand; it keeps one). A worker thread
    #: holds at most two at once (a document lock and a query), a poll thread three; 50 fits
    #: the default 16 poll threads and leaves a consumer's use (2 × worker_threads) unchanged.
    database_pool_size: int = Field(default=50, gt=0)

    # OAuth.
    redirect_uri: str = "http://127.0.0.1:8765/callback"
    #: Refresh an access token this long before it expires, so a call never races expiry.
    token_refresh_margin_s: float = 120.0

    # HTTP behaviour shared by both clients.
    http_timeout_s: float = 20.0
    http_max_attempts: int = 5
    http_backoff_base_ms: int = 250
    http_backoff_max_ms: int = 30_000

    # The webhook receiver (``koppel webhooks serve``). It faces the internet, so everything
    # a client can hold (a connection, a slot, memory, Teamleader calls) has a limit.
    #: A request's line and headers must arrive within this of the connection being ready
    #: for it (s); a half-sent request is then closed.
    webhook_header_timeout_s: float = Field(default=10.0, gt=0)
    #: Its body must arrive within this of its headers (s); 408 otherwise.
    webhook_body_timeout_s: float = Field(default=10.0, gt=0)
    #: An idle kept-alive connection is closed after this (s; whole seconds, uvicorn's unit).
    webhook_keep_alive_s: int = Field(default=5, gt=0)
    #: The largest request line and headers (bytes); 400 beyond.
    webhook_max_header_bytes: int = Field(default=8_192, ge=1_024)
    #: The largest event body (bytes): Teamleader's are a few hundred. Larger is refused
    #: 413 from its Content-Length, before a byte of it is read.
    webhook_max_body_bytes: int = Field(default=8_192, gt=0)
    #: Open connections at most (lowered to fit the process's open-file limit); at the
    #: limit a new connection closes the oldest one still waiting for its request.
    webhook_max_connections: int = Field(default=500, gt=0)
    #: Requests handled at once; one more is answered 503 at once.
    webhook_max_in_flight: int = Field(default=32, gt=0)
    #: A connection's stream is poked at most once per this (s); pokes within it become one
    #: poke at its end. 2 s keeps all four Teamleader streams under 120 of the 200 calls a
    #: minute, however many events arrive.
    webhook_poke_gap_s: float = Field(default=2.0, ge=0)
    #: ``koppel poll`` reconciles each connection's open period once a day (``koppel
    #: reconcile``, ops/reconcile/schedule.py); off where its Teamleader calls must not mix
    #: with others' (the tests that count calls).
    reconcile_daily: bool = True

    # Observability.
    #: Log lines as ``text`` for people or ``json`` (one object per line) for collectors.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    #: The Prometheus endpoint of ``koppel poll`` and ``koppel work`` (0: none, the default,
    #: so several processes on one machine do not fight over a port; containers use 9191).
    metrics_port: int = Field(default=0, ge=0, le=65535)
    #: Where the endpoint listens: this machine only unless set, since it needs no login and
    #: names every connection (docker-compose.yml sets 0.0.0.0 inside its private network).
    metrics_host: str = "127.0.0.1"

    #: Koppel's calendar day, for the day-relative choices (this month, this quarter, this
    #: fiscal year, a connection's default start). Empty: the machine's local date. Tests
    #: and demos of a given day pin it (``KOPPEL_TODAY=2026-05-13``), so their outcome does
    #: not depend on the day they run; wall-clock timestamps (cursors, locks) stay real.
    today: date | None = None

    # Sandbox simulators.
    sandbox_host: str = "127.0.0.1"
    sandbox_teamleader_port: int = 8701
    sandbox_visma_port: int = 8702
    sandbox_client_id: str = "koppel-sandbox"
    sandbox_client_secret: SecretStr = SecretStr("koppel-sandbox-secret")
    #: Multiplies every rate-limit window in the simulators (0.1 turns a minute into 6 s).
    sandbox_time_scale: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _pool_fits_the_poll_threads(self) -> Settings:
        needed = self.poll_threads * SESSIONS_PER_POLL_THREAD
        if needed > self.database_pool_size:
            raise ValueError(
                f"KOPPEL_DATABASE_POOL_SIZE={self.database_pool_size} is too small for"
                f" KOPPEL_POLL_THREADS={self.poll_threads}: each poll thread may hold"
                f" {SESSIONS_PER_POLL_THREAD} database sessions at once, so set the pool to at"
                f" least {needed} or use fewer poll threads."
            )
        return self

    @field_validator("log_format", mode="before")
    @classmethod
    def _format_any_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def token_keys(self) -> list[SecretStr]:
        """The keys of ``KOPPEL_TOKEN_KEY``, newest first (one, unless keys rotate)."""
        return [SecretStr(key) for key in split_token_keys(self.token_key.get_secret_value())]

    @property
    def sandbox_teamleader_url(self) -> str:
        """The Teamleader simulator's root (its API, OAuth and ``/_sandbox/`` controls)."""
        return f"http://{self.sandbox_host}:{self.sandbox_teamleader_port}"

    @property
    def sandbox_visma_url(self) -> str:
        """The Visma simulator's root (the API is under ``/v2``)."""
        return f"http://{self.sandbox_host}:{self.sandbox_visma_port}"

    def use_sandbox(self) -> Settings:
        """The same settings, pointed at the local simulators and their OAuth client; the
        client-side rate windows scale with the simulators' (``sandbox_time_scale``)."""
        teamleader = self.sandbox_teamleader_url
        visma = self.sandbox_visma_url
        scale = self.sandbox_time_scale
        return self.model_copy(
            update={
                "teamleader_window_s": self.teamleader_window_s * scale,
                "visma_window_s": self.visma_window_s * scale,
                "teamleader_auth_url": teamleader,
                "teamleader_api_url": teamleader,
                "teamleader_client_id": self.sandbox_client_id,
                "teamleader_client_secret": self.sandbox_client_secret,
                "visma_auth_url": visma,
                "visma_api_url": f"{visma}/v2",
                "visma_client_id": self.sandbox_client_id,
                "visma_client_secret": self.sandbox_client_secret,
            }
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
