//! The store on its own: migrations are idempotent and a newer database is refused.

use webhook_mcp::store::{SCHEMA_VERSION, Store};

fn user_version(path: &std::path::Path) -> i64 {
    let db = rusqlite::Connection::open(path).expect("open db file");
    db.pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("read user_version")
}

#[tokio::test]
async fn opening_the_same_database_twice_migrates_once_and_keeps_the_data() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.db");
    let first = Store::open(&path).expect("first open");
    first
        .write(|db| {
            db.execute(
                "INSERT INTO webhooks (id, name, provider, secret, created_at, updated_at) \
                 VALUES ('keep', 'Keep', 'github', 's', 0, 0)",
                [],
            )?;
            Ok(())
        })
        .await
        .expect("insert");
    first.close();

    // Act
    let second = Store::open(&path).expect("second open");
    let kept: i64 = second
        .read(|db| {
            Ok(
                db.query_row("SELECT COUNT(*) FROM webhooks WHERE id = 'keep'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .expect("count");
    second.close();

    // Assert
    const { assert!(SCHEMA_VERSION >= 1) };
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert_eq!(kept, 1, "the second open lost data");
}

/// Two processes opening a fresh (or older) database at once, `serve` and `stdio` right
/// after an upgrade, must not both run the same migration: one waits for the other's and
/// goes on. Several rounds, since one round may not overlap.
#[test]
fn databases_opened_at_once_are_migrated_once() {
    for round in 0..8 {
        // Arrange
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("app.db");
        let openers = 4;
        let start = std::sync::Arc::new(std::sync::Barrier::new(openers));

        // Act
        let opened: Vec<_> = (0..openers)
            .map(|_| {
                let (path, start) = (path.clone(), std::sync::Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    Store::open(&path).map(|store| store.close())
                })
            })
            .collect();
        let results: Vec<_> = opened
            .into_iter()
            .map(|t| t.join().expect("join"))
            .collect();

        // Assert
        for result in results {
            if let Err(e) = result {
                panic!("round {round}: an open failed: {e}");
            }
        }
        assert_eq!(user_version(&path), SCHEMA_VERSION, "round {round}");
    }
}

#[tokio::test]
async fn the_database_is_in_wal_mode() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.db");

    // Act
    let store = Store::open(&path).expect("open");
    store.close();

    // Assert
    let db = rusqlite::Connection::open(&path).expect("open db file");
    let mode: String = db
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode.to_lowercase(), "wal");
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused_with_a_clear_message() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.db");
    {
        let db = rusqlite::Connection::open(&path).expect("create db file");
        db.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("set user_version");
    }

    // Act
    let result = Store::open(&path);

    // Assert
    let message = match result {
        Ok(_) => panic!("a newer database was opened"),
        Err(e) => e.to_string(),
    };
    assert!(message.contains("newer"), "{message}");
    assert_eq!(
        user_version(&path),
        SCHEMA_VERSION + 1,
        "the file was changed"
    );
}

#[tokio::test]
async fn the_app_refuses_to_start_on_a_newer_database() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.db");
    {
        let db = rusqlite::Connection::open(&path).expect("create db file");
        db.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("set user_version");
    }

    // Act
    let result = webhook_mcp::app::build(webhook_mcp::config::Config::for_tests(path)).await;

    // Assert
    let message = match result {
        Ok(_) => panic!("the app started on a newer database"),
        Err(e) => format!("{e:#}"),
    };
    assert!(message.contains("newer"), "{message}");
}

/// A database restored with `sqlite3 old.db .dump | sqlite3 new.db`: its tables, but
/// `user_version` 0, since a dump leaves it out.
fn restored_from_a_dump() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("restored.db");
    Store::open(&path).expect("first open").close();
    let db = rusqlite::Connection::open(&path).expect("open db file");
    db.pragma_update(None, "user_version", 0)
        .expect("clear user_version");
    (dir, path)
}

#[test]
fn a_database_that_lost_its_schema_version_is_refused_with_how_to_restore_it() {
    // Arrange
    let (_dir, path) = restored_from_a_dump();

    // Act
    let message = match Store::open(&path) {
        Ok(_) => panic!("a database with no schema version was opened"),
        Err(e) => e.to_string(),
    };

    // Assert
    for words in [".dump", ".backup", "VACUUM INTO", "user_version = "] {
        assert!(message.contains(words), "{words}: {message}");
    }
    assert!(
        message.contains(&format!("user_version = {SCHEMA_VERSION}")),
        "{message}"
    );
    assert!(
        !message.contains("CREATE") && !message.contains('\n') && message.len() < 600,
        "the migration's SQL is not quoted: {message}"
    );
    assert_eq!(user_version(&path), 0, "the file was changed");
}

#[tokio::test]
async fn the_app_refuses_to_start_on_a_database_restored_from_a_dump() {
    // Arrange
    let (_dir, path) = restored_from_a_dump();

    // Act
    let result = webhook_mcp::app::build(webhook_mcp::config::Config::for_tests(path)).await;

    // Assert
    let message = match result {
        Ok(_) => panic!("the app started on a database with no schema version"),
        Err(e) => format!("{e:#}"),
    };
    assert!(message.contains(".dump"), "{message}");
    assert!(!message.contains("CREATE"), "{message}");
}

/// A migration that fails says which one and why, without SQLite quoting its SQL.
#[test]
fn a_failed_migration_is_named_without_its_sql() {
    // Arrange: a version that claims tables the file does not have.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.db");
    {
        let db = rusqlite::Connection::open(&path).expect("create db file");
        db.pragma_update(None, "user_version", 3)
            .expect("set user_version");
    }

    // Act
    let message = match Store::open(&path) {
        Ok(_) => panic!("a migration over missing tables succeeded"),
        Err(e) => e.to_string(),
    };

    // Assert
    assert!(message.contains("migration 0004"), "{message}");
    assert!(message.contains("audit_log"), "{message}");
    assert!(
        !message.contains("ALTER TABLE") && !message.contains("--"),
        "{message}"
    );
}

/// Many writes at once land in shared batches; one of them writes a row and then fails. Its row
/// must be undone alone, and every other write must be stored exactly once (a write that ran
/// before the failure runs again after the rollback; a second copy would break the key).
#[tokio::test]
async fn a_failing_write_is_undone_alone_and_the_rest_of_its_batch_commits() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("app.db")).expect("open");
    let insert = |db: &rusqlite::Connection, id: &str| {
        db.execute(
            "INSERT INTO webhooks (id, name, provider, secret, created_at, updated_at) \
             VALUES (?1, ?1, 'github', 's', 0, 0)",
            [id],
        )
    };

    // Act
    let writes = (0..200).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write(move |db| {
                    let id = format!("hook-{i}");
                    insert(db, &id)?;
                    if i % 50 == 7 {
                        return Err(webhook_mcp::store::StoreError::Conflict);
                    }
                    Ok(id)
                })
                .await
        })
    });
    let mut results = Vec::new();
    for write in writes {
        results.push(write.await.expect("join"));
    }
    let stored: Vec<String> = store
        .read(|db| {
            let mut stmt = db.prepare("SELECT id FROM webhooks ORDER BY id")?;
            let ids = stmt.query_map([], |r| r.get(0))?;
            Ok(ids.collect::<Result<_, _>>()?)
        })
        .await
        .expect("read");
    let stats = store.writer_stats();
    store.close();

    // Assert
    let failed = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(failed, 4, "exactly the four failing writes fail");
    assert_eq!(stored.len(), 196, "every other write is stored once");
    assert!(
        !stored.contains(&"hook-7".to_string()),
        "the failed write was undone"
    );
    assert!(stored.contains(&"hook-8".to_string()));
    assert_eq!(stats.writes, 200, "{stats:?}");
    assert!(stats.commits >= 1 && stats.commits <= 200, "{stats:?}");
    assert!(
        stats.syncs >= 1 && stats.syncs <= stats.commits,
        "{stats:?}"
    );
}

#[tokio::test]
async fn a_database_reached_through_a_symlink_takes_writes() {
    // Arrange: SQLite puts the WAL next to the real file, not next to the link.
    let real = tempfile::tempdir().expect("temp dir");
    let links = tempfile::tempdir().expect("temp dir");
    let target = real.path().join("real.db");
    std::fs::write(&target, b"").expect("create the database file");
    let link = links.path().join("linked.db");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");

    // Act
    let store = Store::open(&link).expect("open through the link");
    let written = store
        .write(|db| {
            Ok(db.execute(
                "INSERT INTO webhooks (id, name, provider, secret, created_at, updated_at) \
                 VALUES ('via-link', 'L', 'github', 's', 0, 0)",
                [],
            )?)
        })
        .await;
    store.close();

    // Assert
    assert_eq!(written.expect("the write is durable"), 1);
    let db = rusqlite::Connection::open(&target).expect("open the real file");
    let rows: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM webhooks WHERE id = 'via-link'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn after_a_clean_stop_the_database_file_alone_holds_everything() {
    // Arrange: a server that received a webhook, then stopped as on SIGTERM.
    let mut app = crate::helpers::spawn_app().await;
    app.github_webhook("kept", "s3cret").await;
    let db_path = app.db_path.clone();
    app.stop().await;

    // Act: a backup that copies only the `.db` file.
    let backup_dir = tempfile::tempdir().expect("temp dir");
    let backup = backup_dir.path().join("backup.db");
    std::fs::copy(&db_path, &backup).expect("copy the database file");
    let wal = std::fs::metadata(db_path.with_extension("db-wal")).map_or(0, |m| m.len());

    // Assert
    assert_eq!(
        user_version(&backup),
        SCHEMA_VERSION,
        "the copy is the whole schema"
    );
    let db = rusqlite::Connection::open(&backup).expect("open the copy");
    let hooks: i64 = db
        .query_row("SELECT COUNT(*) FROM webhooks WHERE id = 'kept'", [], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(hooks, 1, "the webhook is in the database file itself");
    assert_eq!(wal, 0, "nothing is left in the WAL");
}

#[tokio::test]
async fn a_wal_file_removed_while_running_is_folded_into_the_database_at_a_clean_stop() {
    // Arrange: a webhook stored, then its WAL file deleted from under the running server.
    let mut app = crate::helpers::spawn_app().await;
    app.github_webhook("kept", "s3cret").await;
    let db_path = app.db_path.clone();
    let wal = db_path.with_extension("db-wal");
    std::fs::remove_file(&wal).expect("remove the WAL");

    // Act: reads at once, more than the readers open (as the scheduler's and a request's may
    // be): a new connection would make a new WAL at the path, which the stop cannot fold.
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..12 {
        reads.spawn(crate::helpers::send_json(
            app.api(reqwest::Method::GET, "/api/webhooks"),
        ));
    }
    let answers = reads.join_all().await;
    let made_anew = wal.exists();
    // The next write finds it gone; then the server stops as on SIGTERM.
    let (status, refused) = app
        .post_api(
            "/api/webhooks",
            &serde_json::json!({"id": "later", "name": "L", "provider": "github"}),
        )
        .await;
    app.stop().await;

    // Assert: no WAL made anew; a read that needed a new connection was refused saying why.
    assert!(!made_anew, "a read made a new WAL file at its path");
    for (status, answer) in &answers {
        assert!(
            status.is_success() || answer.to_string().contains("was removed"),
            "{status} {answer}"
        );
    }
    // Refused, saying how to keep what the WAL held; and it was kept.
    assert_eq!(
        status,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "{refused}"
    );
    let db = rusqlite::Connection::open(&db_path).expect("open the database");
    let hooks: i64 = db
        .query_row("SELECT COUNT(*) FROM webhooks WHERE id = 'kept'", [], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(hooks, 1, "the webhook the removed WAL held");
    // The refused write went into the removed file too, and the refusal says it is kept.
    let later: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM webhooks WHERE id = 'later'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(later, 1);
    let said = refused["error"]["message"].as_str().unwrap_or_default();
    for words in ["SIGTERM", "do not send it again"] {
        assert!(said.contains(words), "{words}: {refused}");
    }
}

/// Makes `path` unwritable to this process: by mode, or (as root, whom modes do not stop) by
/// the immutable attribute. False if neither works here.
fn make_unwritable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let writable = || std::fs::OpenOptions::new().write(true).open(path).is_ok();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    if writable() {
        let _ = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status();
    }
    !writable()
}

#[tokio::test]
async fn a_database_this_process_cannot_write_is_refused_at_start() {
    // Arrange: a database made, then made read-only.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.db");
    Store::open(&path).expect("create").close();
    if !make_unwritable(&path) {
        eprintln!("skipped: this machine lets the test write a read-only file");
        return;
    }

    // Act
    let opened = Store::open(&path);
    let _ = std::process::Command::new("chattr")
        .arg("-i")
        .arg(&path)
        .status();

    // Assert: refused with the reason, instead of starting and failing every write.
    let error = match opened {
        Ok(_) => panic!("a read-only database was opened for writing"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("read-only"), "{error}");
}

#[tokio::test]
async fn a_database_folder_that_cannot_be_made_is_not_called_corrupt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").expect("write");

    let error = match Store::open(&file.join("sub").join("app.db")) {
        Ok(_) => panic!("opened a database under a file"),
        Err(e) => e.to_string(),
    };

    assert!(error.contains("cannot create folder"), "{error}");
    assert!(!error.contains("corrupt"), "{error}");
}

#[tokio::test]
async fn a_new_database_and_its_wal_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.db");

    // Act: a write makes the WAL.
    let store = Store::open(&path).expect("open");
    store
        .write(|db| {
            Ok(db.execute(
                "INSERT INTO webhooks (id, name, provider, secret, created_at, updated_at) \
                 VALUES ('p', 'P', 'github', 'plain secret', 0, 0)",
                [],
            )?)
        })
        .await
        .expect("write");

    // Assert: no other local user may read the secrets (without a secret key, as given).
    for name in ["app.db", "app.db-wal"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} is {mode:o}");
    }
    store.close();
}

#[tokio::test]
async fn a_question_asked_again_is_not_settled_by_a_copy_of_its_earlier_life() {
    use webhook_mcp::store::outbox::{self, Attempt, OutboxRow};
    // Arrange: a question whose post was announced while its send was under way; the send
    // then timed out unanswered, and the row ended delivered under the announced id.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("app.db")).expect("open");
    let row = OutboxRow {
        id: "act_q".into(),
        event_id: None,
        webhook_id: None,
        command_id: None,
        task_id: None,
        action: "ask".into(),
        delivery: Some(r#"{"kind":"github_comment","body":"Which release?"}"#.into()),
        target: "octo/app#1".into(),
        host: "github".into(),
        status: "sending".into(),
        attempts: 1,
        next_attempt_at: 0,
        last_error: None,
        last_status: None,
        remote_id: None,
        created_at: 1_000,
        updated_at: 1_000,
        lease_until: None,
    };
    let first_life = row.clone();
    let settled_then = store
        .write(move |db| {
            outbox::insert(db, &first_life)?;
            let seen = outbox::seen_coming_back(db, "act_q", "o/a#comment-1", 0, 1_500)?;
            let attempt = Attempt {
                started_at: 1_000,
                latency_ms: 15_000,
                http_status: None,
                outcome: "retry",
                error: Some("timed out".into()),
                remote_id: None,
                next_attempt_at: Some(20_000),
                unanswered: true,
            };
            let ended = outbox::finish(db, "act_q", &attempt, 16_000)?;
            Ok((seen, ended.map(|f| f.status)))
        })
        .await
        .expect("first life");
    assert_eq!(settled_then, (true, Some("delivered".to_string())));

    // Act: asked again (a replay after the reply timed out); the old post is announced again.
    let asked_again = row.clone();
    let (again, taken) = store
        .write(move |db| {
            let again = outbox::send_again(db, &asked_again, 100_000)?;
            let taken = outbox::seen_coming_back(db, "act_q", "o/a#comment-1", 0, 100_500)?;
            Ok((again, taken))
        })
        .await
        .expect("second life");

    // Assert: the new question is still to be posted, not settled by the old copy.
    assert!(again, "asked again");
    assert!(
        !taken,
        "the earlier life's post settled the question asked again"
    );
    store.close();
}
