-- When a recording's first second was recorded, where its source said so (a RecordStop's
-- RecordingStartMs, a REST object's recording_start_ms). The web timeline places the recording
-- on the meeting's time axis from it; without it, the page derives the start (see
-- src/web/timeline.rs).
ALTER TABLE recordings ADD COLUMN started_at TEXT;
