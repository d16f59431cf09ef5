//! Embeds the migration files: writes `embedded_migrations.rs` (one `include_str!` per file of
//! `migrations/sqlite` and `migrations/postgres`, in version order) for `database::migrate`.
//!
//! sqlx's `migrate!` macro would do this, but it compiles both database drivers a second time
//! for the compiler's own use (and SQLite's C source with them) in every build.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let mut generated = String::new();
    for (constant, directory) in [
        ("SQLITE_MIGRATION_FILES", "migrations/sqlite"),
        ("POSTGRES_MIGRATION_FILES", "migrations/postgres"),
    ] {
        println!("cargo:rerun-if-changed={directory}");
        let mut files: Vec<String> = std::fs::read_dir(directory)
            .unwrap_or_else(|error| panic!("reading {directory}: {error}"))
            .map(|entry| {
                let entry = entry.unwrap_or_else(|error| panic!("reading {directory}: {error}"));
                entry.file_name().to_string_lossy().into_owned()
            })
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let _ = writeln!(
            generated,
            "pub(crate) const {constant}: &[(&str, &str)] = &["
        );
        for name in files {
            let path = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"))
                .join(directory)
                .join(&name);
            let _ = writeln!(
                generated,
                "    ({name:?}, include_str!({:?})),",
                path.display().to_string()
            );
        }
        let _ = writeln!(generated, "];");
    }
    let out = std::env::var("OUT_DIR").expect("set by cargo");
    std::fs::write(Path::new(&out).join("embedded_migrations.rs"), generated)
        .expect("writing embedded_migrations.rs");
}
