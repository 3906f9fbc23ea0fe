-- Registry: repositories, blobs and their links, manifests with their references, tags, uploads.
CREATE TABLE registry_repositories (
    name TEXT PRIMARY KEY,
    created_at REAL NOT NULL
);

CREATE TABLE registry_blobs (
    digest TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL
);

-- A blob is visible in a repository only once linked to it (upload, mount or manifest push).
CREATE TABLE registry_repo_blobs (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL REFERENCES registry_blobs (digest) ON DELETE CASCADE,
    linked_at REAL NOT NULL,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX registry_repo_blobs_digest ON registry_repo_blobs (digest);

CREATE TABLE registry_manifests (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    artifact_type TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    annotations TEXT NOT NULL DEFAULT '{}',
    pushed_at REAL NOT NULL,
    build_id INTEGER,
    git_commit TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (repo, digest)
);
CREATE INDEX registry_manifests_subject ON registry_manifests (repo, subject);
CREATE INDEX registry_manifests_digest ON registry_manifests (digest);

-- What a manifest names: its config and layers ('blob') or, for an index, its children ('manifest').
CREATE TABLE registry_manifest_refs (
    repo TEXT NOT NULL,
    manifest TEXT NOT NULL,
    child TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
    PRIMARY KEY (repo, manifest, kind, child),
    FOREIGN KEY (repo, manifest) REFERENCES registry_manifests (repo, digest) ON DELETE CASCADE
);
CREATE INDEX registry_manifest_refs_child ON registry_manifest_refs (child);

CREATE TABLE registry_tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (repo, tag),
    FOREIGN KEY (repo, digest) REFERENCES registry_manifests (repo, digest) ON DELETE CASCADE
);
CREATE INDEX registry_tags_digest ON registry_tags (repo, digest);

CREATE TABLE registry_uploads (
    uuid TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
