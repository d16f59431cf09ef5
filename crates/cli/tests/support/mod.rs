//! What the CLI test binaries share: a temp directory with a fresh database, and the built
//! `allot` run in it with a fixed clock.

// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

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

/// A running `allot serve` and where it listens; killed when dropped.
pub struct Served {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Workspace {
    /// `allot serve` on a free port with `arguments` after it and `environment` added, once
    /// it says where it listens.
    pub fn serve(&self, arguments: &[&str], environment: &[(&str, &str)]) -> Served {
        let mut command = self.command();
        command
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(arguments)
            .env("ALLOT_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (name, value) in environment {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start allot serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let origin = loop {
            let line = lines.next().expect("serve prints its address").unwrap();
            if let Some(rest) = line.strip_prefix("serving ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep reading what it prints: a closed pipe would end it at its next line (SIGPIPE).
        std::thread::spawn(move || lines.for_each(drop));
        Served { child, origin }
    }
}

pub fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}
