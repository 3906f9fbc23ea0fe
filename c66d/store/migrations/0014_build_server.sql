-- BuildGrid: which server's engine ran a build.
ALTER TABLE builds ADD COLUMN server TEXT NOT NULL DEFAULT '';
