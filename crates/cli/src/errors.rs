//! Printing errors once, with a hint, and the exit codes Skiff itself uses.

use std::fmt::Write as _;

/// Skiff itself failed (bad flags, unreadable or invalid app, missing grant target), as
/// `docker run` uses 125 — so any other code is the guest's own.
pub const EXIT_SKIFF_FAILED: u8 = 125;

/// An error raised by the CLI itself, carrying what the user should do next.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UserError {
    pub message: String,
    pub hint: String,
}

pub fn user_error(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    UserError {
        message: message.into(),
        hint: hint.into(),
    }
    .into()
}

/// `error: <top>`, each cause as `  caused by: <cause>`, and the first hint found in the chain.
pub fn report(error: &anyhow::Error) {
    let mut out = format!("error: {error}\n");
    for cause in error.chain().skip(1) {
        let _ = writeln!(out, "  caused by: {cause}");
    }
    if let Some(hint) = hint(error) {
        let _ = writeln!(out, "hint: {hint}");
    }
    eprint!("{out}");
}

fn hint(error: &anyhow::Error) -> Option<String> {
    error.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<UserError>() {
            Some(e.hint.clone())
        } else if let Some(e) = cause.downcast_ref::<skiff_api::ClientError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<skiff_daemon::UnsafeSocketDir>() {
            Some(e.hint())
        } else if let Some(e) = cause.downcast_ref::<skiff_runtime::LoadError>() {
            e.hint().map(str::to_string)
        } else if let Some(e) = cause.downcast_ref::<skiff_runtime::RunError>() {
            Some(e.hint().to_string())
        } else if let Some(e) = cause.downcast_ref::<skiff_image::BuildError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<skiff_manifest::ManifestError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<skiff_image::RegistryError>() {
            e.hint()
        } else if cause.downcast_ref::<skiff_image::ReferenceError>().is_some() {
            Some("image names look like `name:tag`, `registry:port/team/name:tag` or `name@sha256:...`, in lowercase".into())
        } else if let Some(e) = cause.downcast_ref::<skiff_image::StoreError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<skiff_image::ImageError>() {
            e.hint()
        } else if let Some(e) = cause.downcast_ref::<skiff_image::LayoutError>() {
            e.hint()
        } else if cause
            .downcast_ref::<skiff_capabilities::ParseGrantError>()
            .is_some()
            || cause
                .downcast_ref::<skiff_capabilities::ParseLimitError>()
                .is_some()
            || cause
                .downcast_ref::<skiff_capabilities::EnvError>()
                .is_some()
        {
            Some("see `skiff run --help` for the accepted forms".to_string())
        } else {
            None
        }
    })
}
