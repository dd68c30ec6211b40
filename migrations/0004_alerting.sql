-- Alerting: alert instances and their history, the dispatcher's group
-- state, the notifications sent, and silences.

-- One row per alert instance: one rule and label set (the fingerprint)
-- from the evaluation that found its condition true until it resolved.
-- state is pending (true, but not yet for the rule's 'for'), firing or
-- resolved; at most one row per fingerprint is not resolved. A pending
-- instance whose condition ends before it fires is deleted.
CREATE TABLE alerts (
    id                 bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint        text             NOT NULL,
    rule               text             NOT NULL,
    rule_group         text             NOT NULL,
    labels             jsonb            NOT NULL,
    state              text             NOT NULL
                       CHECK (state IN ('pending', 'firing', 'resolved')),
    value              double precision,
    peak_value         double precision,
    threshold          text             NOT NULL,
    annotations        jsonb            NOT NULL DEFAULT '{}',
    details            jsonb            NOT NULL DEFAULT '{}',
    active_since       timestamptz      NOT NULL,
    fired_at           timestamptz,
    resolved_at        timestamptz,
    last_evaluated_at  timestamptz      NOT NULL,
    silenced           boolean          NOT NULL DEFAULT false
);

CREATE UNIQUE INDEX alerts_open_idx ON alerts (fingerprint) WHERE state <> 'resolved';
CREATE INDEX alerts_active_since_idx ON alerts (active_since DESC);
CREATE INDEX alerts_resolved_idx ON alerts (resolved_at DESC) WHERE state = 'resolved';

-- Every change of an instance: pending, firing, resolved, silenced,
-- unsilenced, with the value at that evaluation.
CREATE TABLE alert_events (
    id        bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id  bigint           NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at        timestamptz      NOT NULL,
    event     text             NOT NULL,
    value     double precision
);

CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, at);

-- The dispatcher's state per route and group: when the group's first alert
-- arrived, when it last notified, and what that notification said was
-- firing (fingerprint -> alert id), so that a restart neither repeats nor
-- forgets a notification.
CREATE TABLE alert_groups (
    route_key     text        NOT NULL,
    group_key     text        NOT NULL,
    group_labels  jsonb       NOT NULL,
    created_at    timestamptz NOT NULL,
    flushed_at    timestamptz,
    sent          jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (route_key, group_key)
);

-- One row per notification and channel, written when the delivery ended.
CREATE TABLE notifications (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL,
    kind          text        NOT NULL,
    channel       text        NOT NULL,
    group_labels  jsonb       NOT NULL,
    alert_ids     bigint[]    NOT NULL,
    title         text        NOT NULL,
    ok            boolean     NOT NULL,
    attempts      integer     NOT NULL,
    error         text,
    delivered_at  timestamptz
);

CREATE INDEX notifications_at_idx ON notifications (at DESC);

-- Silences: alerts whose labels match every matcher between starts_at and
-- ends_at are evaluated and recorded but not sent. Expiring a silence sets
-- ends_at to the time of expiry (and starts_at too, for one not yet begun).
CREATE TABLE silences (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    matchers    jsonb       NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_by  text        NOT NULL,
    comment     text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at >= starts_at)
);

CREATE INDEX silences_ends_idx ON silences (ends_at DESC);
