-- Whom an audit event was about, when that is not its actor: the person whose sessions an
-- administrator ended. NULL for everything else.
ALTER TABLE audit_events ADD COLUMN subject TEXT;
