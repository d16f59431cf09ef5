//! What the CLI test binaries share: a temp directory with a fresh database, and the built
//! `allot` run in it with a fixed clock.

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use allot_store::testing::TestDatabase;
use allot_store::Backend;

pub const CLOCK: &str = "2026-11-25T09:00:00+08:00";

pub struct Workspace {
    pub directory: tempfile::TempDir,
    pub database: TestDatabase,
}

impl Workspace {
    pub async fn new(backend: Backend) -> Workspace {
        Workspace {
            directory: tempfile::tempdir().unwrap(),
            database: TestDatabase::create(backend).await,
        }
    }

    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.directory.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// The command ready to run: in the directory, on the database, at the fixed clock.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_allot"));
        command
            .current_dir(self.directory.path())
            .env("ALLOT_DB", &self.database.url)
            .env("ALLOT_NOW", CLOCK)
            .env_remove("ALLOT_ADMIN_TOKEN")
            .env_remove("NO_COLOR");
        command
    }

    pub fn allot(&self, arguments: &[&str]) -> Output {
        self.command().args(arguments).output().expect("run allot")
    }

    pub fn allot_ok(&self, arguments: &[&str]) -> String {
        let output = self.allot(arguments);
        assert!(
            output.status.success(),
            "allot {arguments:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

pub fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}
