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
