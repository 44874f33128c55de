//! Prints the file at argv[1] (an absolute guest path under one of its preopened directories)
//! through WASI 0.3's filesystem (`wasi:filesystem@0.3.0`), following symlinks as `open` does.
//! Without a directory that holds the path it prints `error: no preopened directory holds PATH`
//! and exits 1; any other failure prints `error: ` and the WASI error code.

use skiff_p3_programs::{fail, stdout, wasip3};
use wasip3::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};

struct Program;

impl wasip3::exports::cli::run::Guest for Program {
    async fn run() -> Result<(), ()> {
        let Some(path) = wasip3::cli::environment::get_arguments().get(1).cloned() else {
            fail("usage: p3_read_file PATH").await
        };
        let preopen = wasip3::filesystem::preopens::get_directories()
            .into_iter()
            .find_map(|(dir, name)| {
                let rest = path.strip_prefix(name.trim_end_matches('/'))?;
                let rest = rest.strip_prefix('/')?;
                Some((dir, rest.to_string()))
            });
        let Some((dir, relative)) = preopen else {
            fail(format!("no preopened directory holds {path}")).await
        };
        let file = match dir
            .open_at(
                PathFlags::SYMLINK_FOLLOW,
                relative,
                OpenFlags::empty(),
                DescriptorFlags::READ,
            )
            .await
        {
            Ok(file) => file,
            Err(e) => fail(format!("{e:?}")).await,
        };
        let (contents, result) = file.read_via_stream(0);
        let contents = contents.collect().await;
        if let Err(e) = result.await {
            fail(format!("{e:?}")).await
        }
        stdout(contents).await;
        Ok(())
    }
}

wasip3::cli::command::export!(Program with_types_in wasip3);
