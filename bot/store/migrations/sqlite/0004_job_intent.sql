-- The delivery's classification (bot/core/events.py Intent, JSON), decided once at intake.
ALTER TABLE jobs ADD COLUMN intent TEXT;
